// The add/edit field form: suggests a code from the label (until the code is edited by hand) and shows the
// choices box only for choice types. Without this script every box is simply shown.
const CHOICE_TYPES = new Set(["choice", "multi_choice"]);

export function slugify(text) {
  let code = (text || "")
    .normalize("NFKD")
    .replace(/[\u0300-\u036f]/g, "")
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "_")
    .replace(/^_+|_+$/g, "");
  if (code && !/^[a-z]/.test(code)) code = `field_${code}`;
  return code.slice(0, 50).replace(/_+$/, "");
}

export function initFieldForm(root = document) {
  root.querySelectorAll("form[data-field-form]").forEach((form) => {
    if (form.dataset.fieldFormReady) return;
    form.dataset.fieldFormReady = "1";

    const label = form.querySelector("[data-code-source]");
    const code = form.querySelector("[data-code-input]");
    if (label && code) {
      let touched = code.value !== "" && code.value !== slugify(label.value);
      label.addEventListener("input", () => {
        if (!touched) code.value = slugify(label.value);
      });
      code.addEventListener("input", () => {
        touched = code.value !== "" && code.value !== slugify(label.value);
      });
    }

    const type = form.querySelector("[data-type-select]");
    const choicesRow = form.querySelector("[data-choices-row]");
    if (type && choicesRow) {
      const toggle = () => {
        const show = CHOICE_TYPES.has(type.value);
        choicesRow.hidden = !show;
        const textarea = choicesRow.querySelector("textarea");
        if (textarea) textarea.disabled = !show;
      };
      type.addEventListener("change", toggle);
      toggle();
    }

    const typeNote = form.querySelector("[data-type-change-note]");
    if (type && typeNote) {
      const original = type.value;
      const update = () => { typeNote.hidden = type.value === original; };
      type.addEventListener("change", update);
      update();
    }
  });
}

document.addEventListener("DOMContentLoaded", () => initFieldForm(document));
