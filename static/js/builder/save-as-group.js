// "Save as group" beside the advanced filter: posts the builder's current tree with a name and a
// code (suggested from the name until the marketer edits it) to segments:builder_save_group.
import { slug } from "./builder.js";

export function initSaveAsGroup(root = document) {
  root.querySelectorAll("form[data-save-as-group]").forEach((form) => {
    if (form.dataset.ready) return;
    form.dataset.ready = "true";
    const source = document.querySelector(form.dataset.builderSource);
    const target = form.querySelector("input[name=condition]");
    suggestCode(form.querySelector("[data-save-name]"), form.querySelector("[data-save-code]"));
    form.addEventListener("submit", () => {
      target.value = source ? source.value : "";
    });
  });
}

/** Fill `code` from `name` as the marketer types, until the code is edited by hand (or cannot change). */
export function suggestCode(name, code) {
  if (!name || !code || code.disabled || code.readOnly || code.dataset.suggesting) return;
  code.dataset.suggesting = "true";
  let codeEdited = code.value.trim() !== "" && code.value !== slug(name.value);
  code.addEventListener("input", () => {
    codeEdited = code.value.trim() !== "";
  });
  name.addEventListener("input", () => {
    if (!codeEdited) code.value = name.value.trim() ? slug(name.value) : "";
  });
}
