// Bulk selection for tables: a "select all" checkbox (data-bulk-all) toggles the row checkboxes
// (data-bulk-item); elements with data-bulk-count show how many are selected and
// [data-bulk-action] buttons are enabled only while something is selected.
export function initBulkSelection(root) {
  root.querySelectorAll("[data-bulk-scope]").forEach((scope) => {
    if (scope.dataset.bulkReady) return;
    scope.dataset.bulkReady = "1";
    const all = scope.querySelector("[data-bulk-all]");
    const items = () => [...scope.querySelectorAll("[data-bulk-item]")];
    const update = () => {
      const selected = items().filter((c) => c.checked).length;
      scope.querySelectorAll("[data-bulk-count]").forEach((el) => { el.textContent = selected; });
      scope.querySelectorAll("[data-bulk-action]").forEach((el) => { el.disabled = selected === 0; });
      if (all) {
        all.checked = selected > 0 && selected === items().length;
        all.indeterminate = selected > 0 && selected < items().length;
      }
    };
    if (all) all.addEventListener("change", () => { items().forEach((c) => { c.checked = all.checked; }); update(); });
    scope.addEventListener("change", (e) => { if (e.target.matches("[data-bulk-item]")) update(); });
    update();
  });
}
