// Entry point of the visual condition builder: starts one RuleBuilder per [data-rule-builder]
// element (templates/segments/_builder.html), also in content htmx swaps in.
import { RuleBuilder } from "./builder.js";
import { initSaveAsGroup } from "./save-as-group.js";

export function initBuilders(root = document) {
  const scope = root.matches && root.matches("[data-rule-builder]") ? [root] : root.querySelectorAll("[data-rule-builder]");
  scope.forEach((el) => {
    if (el.ruleBuilder) return;
    el.ruleBuilder = new RuleBuilder(el);
    el.ruleBuilder.start();
  });
  initSaveAsGroup(root.querySelectorAll ? root : document);
}

if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", () => initBuilders());
else initBuilders();
document.addEventListener("htmx:load", (event) => initBuilders(event.target));
