// Entry point of the visual condition builder: starts one RuleBuilder per [data-rule-builder]
// element (templates/segments/_builder.html), also in content htmx swaps in.
import { RuleBuilder } from "./builder.js";
import { initSaveAsGroup, suggestCode } from "./save-as-group.js";

export function initBuilders(root = document) {
  const scope = root.matches && root.matches("[data-rule-builder]") ? [root] : root.querySelectorAll("[data-rule-builder]");
  scope.forEach((el) => {
    if (el.ruleBuilder) return;
    el.ruleBuilder = new RuleBuilder(el);
    // In a collapsed panel (the contact list's advanced filter) start when it is first opened.
    const collapsed = el.closest(".collapse:not(.show)");
    if (collapsed) {
      const open = (event) => {
        if (event.target !== collapsed) return;
        collapsed.removeEventListener("show.bs.collapse", open);
        el.ruleBuilder.start();
      };
      collapsed.addEventListener("show.bs.collapse", open);
    }
    else el.ruleBuilder.start();
  });
  initSaveAsGroup(root.querySelectorAll ? root : document);
  // The new-group form: the code follows the name until edited (on edit the code is fixed).
  document.querySelectorAll("form.group-form").forEach((form) => suggestCode(form.querySelector("#id_name"), form.querySelector("#id_code")));
}

if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", () => initBuilders());
else initBuilders();
document.addEventListener("htmx:load", (event) => initBuilders(event.target));
