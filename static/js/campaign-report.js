// The campaign report's chart: opens and clicks per hour (first 48 h) or per day, drawn with Chart.js
// (vendor/chart.js, loaded before this module as a classic script: window.Chart). The data comes from
// the page's json_script element named by the canvas' data-report-chart; the scale buttons switch views.

const COLORS = { opens: "#0d6efd", clicks: "#20a36b" };

function datasets(series) {
  return [
    { label: "Opens", data: series.opens, backgroundColor: COLORS.opens, borderRadius: 2, maxBarThickness: 28 },
    { label: "Clicks", data: series.clicks, backgroundColor: COLORS.clicks, borderRadius: 2, maxBarThickness: 28 },
  ];
}

export function initReportChart(root = document) {
  const canvas = root.querySelector("canvas[data-report-chart]");
  const source = canvas && document.getElementById(canvas.dataset.reportChart);
  if (!canvas || !source || typeof window.Chart === "undefined") return null;
  const data = JSON.parse(source.textContent);
  const chart = new window.Chart(canvas, {
    type: "bar",
    data: { labels: data.hourly.labels, datasets: datasets(data.hourly) },
    options: {
      responsive: true,
      maintainAspectRatio: false,
      animation: false,
      interaction: { mode: "index", intersect: false },
      plugins: { legend: { position: "bottom", labels: { boxWidth: 12, boxHeight: 12 } } },
      scales: {
        x: { grid: { display: false }, ticks: { autoSkip: true, maxRotation: 0, autoSkipPadding: 12 } },
        y: { beginAtZero: true, ticks: { precision: 0 }, grid: { color: "#eef0f3" } },
      },
    },
  });
  const buttons = document.querySelectorAll("[data-chart-scale] [data-scale]");
  buttons.forEach((button) => {
    button.addEventListener("click", () => {
      const series = data[button.dataset.scale];
      chart.data.labels = series.labels;
      chart.data.datasets = datasets(series);
      chart.update();
      buttons.forEach((other) => {
        const on = other === button;
        other.classList.toggle("active", on);
        other.setAttribute("aria-pressed", on ? "true" : "false");
      });
    });
  });
  return chart;
}

if (document.readyState === "loading") {
  document.addEventListener("DOMContentLoaded", () => initReportChart());
} else {
  initReportChart();
}
