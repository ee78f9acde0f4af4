// Field settings: reorder custom fields by drag and drop (HTML5, started from the grip handle) or with the
// keyboard-accessible up/down buttons. The buttons are real submit buttons, so moving works without this
// script too; with it, each change moves the row at once and POSTs the whole order (field ids) to
// data-reorder-url. Saves run one after another; a failed save puts the rows back in the last saved order.

function csrfToken() {
  try {
    const token = JSON.parse(document.body.getAttribute("hx-headers") || "{}")["X-CSRFToken"];
    if (token) return token;
  } catch { /* fall through to the cookie */ }
  const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
  return match ? decodeURIComponent(match[1]) : "";
}

export function initFieldOrder(root = document) {
  root.querySelectorAll("[data-field-order]").forEach((tbody) => {
    if (tbody.dataset.orderReady) return;
    tbody.dataset.orderReady = "1";
    const url = tbody.dataset.reorderUrl;
    const status = document.querySelector("[data-order-status]");
    const rows = () => [...tbody.querySelectorAll("tr[data-field-id]")];
    const currentOrder = () => rows().map((row) => row.dataset.fieldId);
    let confirmed = currentOrder(); // what the server last accepted
    let queue = Promise.resolve();
    let dragged = null;
    let dragStartOrder = null;

    function setStatus(text, tone = "") {
      if (!status) return;
      status.textContent = text;
      status.className = `field-order-status${tone ? ` text-${tone}` : ""}`;
    }

    function refresh() {
      const all = rows();
      all.forEach((row, index) => {
        const position = row.querySelector("[data-position]");
        if (position) position.textContent = index + 1;
        const up = row.querySelector('[data-move="up"]');
        const down = row.querySelector('[data-move="down"]');
        if (up) up.disabled = index === 0;
        if (down) down.disabled = index === all.length - 1;
      });
    }

    function putInOrder(order) {
      order.forEach((id) => {
        const row = tbody.querySelector(`tr[data-field-id="${id}"]`);
        if (row) tbody.appendChild(row);
      });
      refresh();
    }

    async function send() {
      const order = currentOrder();
      if (order.join(",") === confirmed.join(",")) return;
      setStatus("Saving…", "body-secondary");
      const body = new FormData();
      order.forEach((id) => body.append("order", id));
      try {
        const response = await fetch(url, {
          method: "POST",
          body,
          credentials: "same-origin",
          headers: { "X-CSRFToken": csrfToken(), Accept: "application/json" },
        });
        const data = await response.json().catch(() => ({}));
        if (!response.ok) throw new Error(data.error || `the server answered ${response.status}`);
        confirmed = (data.order || order).map(String);
        setStatus("Order saved.", "success");
      } catch (error) {
        putInOrder(confirmed);
        setStatus(`Couldn't save the new order (${error.message}); the previous order is back.`, "danger");
      }
    }

    function save() {
      queue = queue.then(send);
      return queue;
    }

    // Up/down buttons (keyboard and mouse).
    tbody.addEventListener("click", (event) => {
      const button = event.target.closest("[data-move]");
      if (!button || !tbody.contains(button)) return;
      event.preventDefault();
      const row = button.closest("tr");
      const direction = button.dataset.move;
      const sibling = direction === "up" ? row.previousElementSibling : row.nextElementSibling;
      if (!sibling) return;
      if (direction === "up") tbody.insertBefore(row, sibling);
      else tbody.insertBefore(sibling, row);
      refresh();
      // Keep the keyboard where it was; if that button is now disabled, use its partner.
      const other = row.querySelector(`[data-move="${direction === "up" ? "down" : "up"}"]`);
      (button.disabled ? other : button).focus();
      const all = rows();
      setStatus(`Moved “${row.dataset.fieldLabel}” to position ${all.indexOf(row) + 1} of ${all.length}.`);
      save();
    });

    // Drag and drop, started from the grip handle only (so text in the rows stays selectable).
    tbody.addEventListener("pointerdown", (event) => {
      const handle = event.target.closest(".drag-handle");
      if (handle) handle.closest("tr").setAttribute("draggable", "true");
    });
    tbody.addEventListener("dragstart", (event) => {
      const row = event.target.closest && event.target.closest("tr[data-field-id]");
      if (!row || row.getAttribute("draggable") !== "true") {
        event.preventDefault();
        return;
      }
      dragged = row;
      dragStartOrder = currentOrder();
      row.classList.add("is-dragging");
      event.dataTransfer.effectAllowed = "move";
      event.dataTransfer.setData("text/plain", row.dataset.fieldId);
    });
    tbody.addEventListener("dragover", (event) => {
      if (!dragged) return;
      event.preventDefault();
      event.dataTransfer.dropEffect = "move";
      const target = event.target.closest("tr[data-field-id]");
      if (!target || target === dragged) return;
      const box = target.getBoundingClientRect();
      const after = event.clientY > box.top + box.height / 2;
      tbody.insertBefore(dragged, after ? target.nextElementSibling : target);
      refresh();
    });
    tbody.addEventListener("drop", (event) => {
      if (dragged) event.preventDefault();
    });
    tbody.addEventListener("dragend", () => {
      if (!dragged) return;
      const row = dragged;
      dragged = null;
      row.classList.remove("is-dragging");
      row.setAttribute("draggable", "false");
      if (currentOrder().join(",") !== dragStartOrder.join(",")) {
        const all = rows();
        setStatus(`Moved “${row.dataset.fieldLabel}” to position ${all.indexOf(row) + 1} of ${all.length}.`);
        save();
      }
    });
    document.addEventListener("pointerup", () => {
      if (!dragged) rows().forEach((row) => row.setAttribute("draggable", "false"));
    });

    refresh();
  });
}

document.addEventListener("DOMContentLoaded", () => initFieldOrder(document));
