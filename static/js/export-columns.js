// The export page's column chooser: "Select all" and "None" tick or clear every column.
(() => {
  const form = document.querySelector("[data-export-form]");
  if (!form) return;
  const tick = (checked) => {
    form.querySelectorAll('input[name="columns"]').forEach((box) => { box.checked = checked; });
  };
  form.querySelector("[data-columns-all]")?.addEventListener("click", () => tick(true));
  form.querySelector("[data-columns-none]")?.addEventListener("click", () => tick(false));
})();
