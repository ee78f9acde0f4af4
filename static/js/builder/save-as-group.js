// "Save as group" beside the advanced filter: posts the builder's current tree with a name and a
// code (suggested from the name until the marketer edits it) to segments:builder_save_group.
import { slug } from "./builder.js";

export function initSaveAsGroup(root = document) {
  root.querySelectorAll("form[data-save-as-group]").forEach((form) => {
    if (form.dataset.ready) return;
    form.dataset.ready = "true";
    const source = document.querySelector(form.dataset.builderSource);
    const target = form.querySelector("input[name=condition]");
    const name = form.querySelector("[data-save-name]");
    const code = form.querySelector("[data-save-code]");
    let codeEdited = false;
    code.addEventListener("input", () => {
      codeEdited = code.value.trim() !== "";
    });
    name.addEventListener("input", () => {
      if (!codeEdited) code.value = name.value.trim() ? slug(name.value) : "";
    });
    form.addEventListener("submit", () => {
      target.value = source ? source.value : "";
    });
  });
}
