// The visual condition builder: edits a rule tree ("Rule tree format, version 1") held in a hidden
// form input, with a live preview, inline errors, templates and a JSON ("advanced") mode.
//
// Invariant: `this.tree` IS the tree being edited. Controls change its objects in place and the
// hidden input is re-serialised after every change, so the form always posts exactly what the
// marketer sees; a tree loaded and saved without edits is saved unchanged. DOM elements are found
// from tree objects through WeakMaps (never stored in the tree), which is how an error path from
// the server ("root.children[1].value") finds the row it belongs to.

import { Catalog, loadCatalog } from "./catalog.js";
import { convertValue, destroyPickers, enhanceSubjectPicker, plainSelect, subjectPicker, valueControl } from "./controls.js";
import { h, icon, uid } from "./dom.js";
import { PreviewPanel } from "./preview.js";
import {
  countNodes,
  daysAgo,
  deepClone,
  emptyGroup,
  isoDate,
  locate,
  readNumber,
  replaceNode,
  splitError,
  usesRelativeDates,
} from "./tree.js";

const TITLES = { and: "All of the following", or: "Any of the following" };
const NEGATED_TITLES = { and: "Not all of the following", or: "None of the following" };
const NEVER = "never";
const ERROR_ROLES = {
  value: "value",
  operator: "operator",
  field: "subject",
  activity: "subject",
  consent: "subject",
  group: "subject",
  type: "subject",
  count: "count",
  window: "window",
  where: "where",
  children: "children",
  combinator: "combinator",
  negate: "negate",
};

export class RuleBuilder {
  constructor(root) {
    this.root = root;
    this.form = root.closest("form");
    this.input = root.querySelector("[data-builder-input]");
    this.visual = root.querySelector("[data-builder-visual]");
    this.advanced = root.querySelector("[data-builder-advanced]");
    this.textarea = root.querySelector("[data-builder-json]");
    this.jsonError = root.querySelector("[data-builder-json-error]");
    this.modeToggle = root.querySelector("[data-builder-mode]");
    this.alert = root.querySelector("[data-builder-alert]");
    this.templateMenu = root.querySelector("[data-builder-templates]");
    this.warning = root.querySelector("[data-builder-relative-warning]") || document.querySelector("[data-builder-relative-warning]");
    this.schedule = root.dataset.scheduleInput ? document.querySelector(root.dataset.scheduleInput) : null;
    this.enabledBy = root.dataset.enabledBy ? document.querySelector(root.dataset.enabledBy) : null;
    this.ids = new WeakMap();
    this.els = new WeakMap();
    this.pristine = new WeakSet(); // new conditions the marketer has not finished yet: no red errors
    this.saveError = false; // the page came back with a save error that no edit has touched yet
    this.enhancers = [];
    this.mode = "visual";
    this.virtualRoot = false;
    this.unwrapped = false;
    this.tree = { version: 1, root: emptyGroup() };
    this.preview = new PreviewPanel(root.querySelector("[data-builder-preview]"), {
      url: root.dataset.previewUrl,
      group: root.dataset.groupCode || "",
      contactUrl: root.dataset.contactUrl,
      onError: (error) => this.showError(error, { live: true }),
      // A save error the preview cannot see (a cycle through this very group) stays until the next edit.
      onResult: () => this.saveError || this.clearErrors(),
    });
  }

  async start() {
    this.root.dataset.ready = "loading";
    this.bind();
    try {
      this.catalog = await loadCatalog(this.root.dataset.catalogUrl, { ownGroup: this.root.dataset.groupCode || "" });
    } catch (error) {
      this.showAlert(`${error.message} You can still edit the condition as JSON.`);
      this.catalog = null;
      this.enterAdvanced(this.input.value);
      this.modeToggle.disabled = true;
      this.root.dataset.ready = "true";
      return;
    }
    this.loadText(this.input.value);
    this.renderTemplateMenu();
    const serverError = this.root.dataset.error;
    this.saveError = Boolean(serverError);
    if (serverError) this.showError(splitError(serverError), { live: false });
    this.root.dataset.ready = "true";
  }

  bind() {
    // Enter in a value box must not submit the surrounding form (saving half-built conditions).
    this.visual.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && event.target.matches("input")) event.preventDefault();
    });
    this.modeToggle.addEventListener("change", () => this.setMode(this.modeToggle.checked ? "advanced" : "visual"));
    this.textarea.addEventListener("input", () => {
      this.input.value = this.textarea.value; // posted as typed: the server reports what is wrong
      this.afterChange();
    });
    if (this.schedule) this.schedule.addEventListener("change", () => this.updateWarning());
    if (this.enabledBy) {
      const section = this.root.closest("[data-builder-section]") || this.root;
      const toggle = () => {
        section.hidden = !this.enabledBy.checked;
        this.updateWarning();
      };
      this.enabledBy.addEventListener("change", toggle);
      toggle();
    }
  }

  // -- loading and serialising ------------------------------------------------------------------

  /** Open the hidden input's text: empty → a blank builder; not renderable → JSON mode, as it is. */
  loadText(raw) {
    const text = String(raw || "").trim();
    if (!text) return this.setTree({ version: 1, root: emptyGroup() });
    let tree;
    try {
      tree = JSON.parse(text);
    } catch (error) {
      this.enterAdvanced(raw);
      this.showJsonError(`This is not valid JSON: ${error.message}`);
      return;
    }
    if (!renderable(tree)) {
      this.enterAdvanced(raw);
      return;
    }
    this.setTree(tree);
  }

  setTree(tree, focusKey) {
    this.virtualRoot = tree.root.type !== "group";
    if (this.virtualRoot) tree.root = { type: "group", combinator: "and", children: [tree.root] };
    this.tree = tree;
    this.mode = "visual";
    this.modeToggle.checked = false;
    this.advanced.hidden = true;
    this.visual.hidden = false;
    this.render(focusKey);
    this.afterChange();
  }

  /** The tree to save and preview, or null when there is no condition yet. */
  serialize() {
    const root = this.tree.root;
    this.unwrapped = false;
    if (root.type === "group" && Array.isArray(root.children) && root.children.length === 0 && Object.keys(this.tree).length === 2) {
      return null;
    }
    if (this.virtualRoot && root.children.length === 1 && root.combinator === "and" && !root.negate && Object.keys(root).length === 3) {
      this.unwrapped = true;
      return { ...this.tree, root: root.children[0] };
    }
    return this.tree;
  }

  /** What the preview and the warning work on: the visual tree, or the JSON text when it parses. */
  current() {
    if (this.mode === "visual") return { tree: this.serialize() };
    const text = this.textarea.value.trim();
    if (!text) return { tree: null };
    try {
      return { tree: JSON.parse(text) };
    } catch (error) {
      return { tree: null, jsonError: `This is not valid JSON: ${error.message}` };
    }
  }

  /** After every edit: the hidden input, the relative-dates warning, the live preview. */
  afterChange() {
    this.saveError = false; // edited since the save was refused: the live preview judges from now on
    if (this.mode === "visual") {
      const tree = this.serialize();
      this.input.value = tree ? JSON.stringify(tree) : "";
    }
    this.updateWarning();
    const { tree, jsonError } = this.current();
    if (jsonError) {
      this.showJsonError(jsonError);
      this.preview.idle("Fix the JSON to see matching contacts.");
    } else if (!tree) {
      if (this.mode === "advanced") this.hideJsonError();
      this.preview.idle("Add a condition to see how many contacts match.");
    } else {
      if (this.mode === "advanced") this.hideJsonError();
      this.preview.schedule(tree);
    }
    this.root.dispatchEvent(new CustomEvent("builder:change", { bubbles: true, detail: { tree } }));
  }

  changed(node) {
    if (node) this.pristine.delete(node);
    this.afterChange();
  }

  updateWarning() {
    if (!this.warning) return;
    const { tree } = this.current();
    const relative = Boolean(tree) && usesRelativeDates(tree, this.catalog ? this.catalog.relativeOperators : []);
    const enabled = !this.enabledBy || this.enabledBy.checked;
    this.warning.hidden = !(relative && enabled && this.schedule && !this.schedule.checked);
  }

  // -- modes ------------------------------------------------------------------------------------

  setMode(mode) {
    if (mode === "advanced") {
      const tree = this.serialize();
      this.enterAdvanced(tree ? JSON.stringify(tree, null, 2) : "");
      this.afterChange();
      this.textarea.focus();
      return;
    }
    const text = this.textarea.value.trim();
    let tree;
    try {
      tree = text ? JSON.parse(text) : { version: 1, root: emptyGroup() };
    } catch (error) {
      this.modeToggle.checked = true;
      this.showJsonError(`Fix the JSON before switching back: ${error.message}`);
      return;
    }
    if (!renderable(tree)) {
      this.modeToggle.checked = true;
      this.showJsonError('The builder needs an object like {"version": 1, "root": {"type": "group", …}}.');
      return;
    }
    this.hideJsonError();
    this.setTree(tree);
    const first = this.visual.querySelector("input, select, button");
    if (first) this.focusEl(first);
  }

  enterAdvanced(text) {
    this.mode = "advanced";
    this.modeToggle.checked = true;
    this.textarea.value = text || "";
    this.input.value = this.textarea.value;
    this.visual.hidden = true;
    this.advanced.hidden = false;
  }

  showJsonError(message) {
    this.jsonError.textContent = message;
    this.jsonError.hidden = false;
    this.textarea.classList.add("is-invalid");
    this.textarea.setAttribute("aria-invalid", "true");
  }

  hideJsonError() {
    this.jsonError.hidden = true;
    this.textarea.classList.remove("is-invalid");
    this.textarea.removeAttribute("aria-invalid");
  }

  showAlert(message) {
    this.alert.replaceChildren(icon("bi-exclamation-triangle-fill", "me-2"), message);
    this.alert.hidden = false;
  }

  // -- errors -----------------------------------------------------------------------------------

  clearErrors() {
    this.alert.hidden = true;
    this.visual.querySelectorAll(".rb-invalid").forEach((el) => el.classList.remove("rb-invalid"));
    this.visual.querySelectorAll(".is-invalid").forEach((el) => el.classList.remove("is-invalid"));
    this.visual.querySelectorAll("[aria-invalid]").forEach((el) => el.removeAttribute("aria-invalid"));
    this.visual.querySelectorAll(".rb-error").forEach((el) => {
      el.hidden = true;
      el.textContent = "";
    });
    if (this.mode === "advanced" && !this.current().jsonError) this.hideJsonError();
  }

  /** Show `message` next to the part of the tree `path` names (a live preview error or a save error). */
  showError({ path, message }, { live }) {
    this.clearErrors();
    if (this.mode === "advanced") {
      this.showJsonError(path ? `${path}: ${message}` : message);
      return;
    }
    const internal = this.unwrapped && path.startsWith("root") ? path.replace(/^root/, "root.children[0]") : path;
    const { target, key } = locate(this.tree, internal);
    const el = target ? this.els.get(target) : null;
    if (!el) {
      this.showAlert(path ? `${path}: ${message}` : message);
      return;
    }
    if (live && this.pristine.has(target)) {
      this.preview.statusEl.textContent = "Finish the new condition to see matching contacts.";
      return;
    }
    el.classList.add("rb-invalid");
    const slot = el.querySelector(":scope > .rb-error");
    if (slot) {
      slot.textContent = friendly(message, key);
      slot.hidden = false;
    }
    const role = ERROR_ROLES[key] || "value";
    const controls = [...el.querySelectorAll(`:scope > .rb-line [data-role="${role}"], :scope > .rb-group-head [data-role="${role}"]`)];
    const fields = controls.flatMap((c) => (c.matches("input, select, textarea") ? [c] : [...c.querySelectorAll("input, select, textarea")]));
    for (const field of fields) {
      field.classList.add("is-invalid");
      field.setAttribute("aria-invalid", "true");
      if (slot) field.setAttribute("aria-describedby", slot.id);
      if (field.tomselect) field.tomselect.wrapper.classList.add("is-invalid");
    }
    if (!live) {
      el.scrollIntoView({ block: "center" });
      const first = fields[0] || el.querySelector("input, select");
      if (first) this.focusEl(first);
    }
  }

  // -- rendering --------------------------------------------------------------------------------

  idOf(node) {
    if (!this.ids.has(node)) this.ids.set(node, uid("rbn"));
    return this.ids.get(node);
  }

  render(focusKey) {
    destroyPickers(this.visual);
    this.enhancers = [];
    this.visual.replaceChildren(this.renderGroup(this.tree.root, 1, null));
    this.enhancers.forEach((enhance) => enhance());
    this.enhancers = [];
    if (focusKey) this.focusKey(focusKey);
  }

  focusKey(key, { open = false } = {}) {
    const el = this.visual.querySelector(`[data-key="${key}"]`);
    if (el) this.focusEl(el, { open });
    return Boolean(el);
  }

  /** Focus a control; a Tom Select list opens when `open` (the next thing to do is choosing). */
  focusEl(el, { open = false } = {}) {
    if (!el.tomselect) return el.focus();
    const ts = el.tomselect;
    ts.focus();
    // TRICKY: Tom Select only counts itself focused a tick later; keys typed before that (a fast
    // typist right after picking a field) would not filter or select. Make it focused now.
    ts.ignoreFocus = false;
    ts.onFocus();
    if (open) ts.open();
  }

  renderGroup(group, depth, parent) {
    const id = this.idOf(group);
    const isRoot = !parent;
    const children = Array.isArray(group.children) ? group.children : [];
    const combinator = group.combinator === "or" ? "or" : "and";
    const title = (group.negate ? NEGATED_TITLES : TITLES)[combinator];
    const el = h("section", {
      class: `rb-group rb-depth-${((depth - 1) % 4) + 1}${group.negate ? " rb-negated" : ""}${isRoot ? " rb-root" : ""}`,
      "aria-labelledby": `${id}-title`,
      dataset: { node: id },
    });
    this.els.set(group, el);

    const pills = h(
      "div",
      { class: "btn-group btn-group-sm rb-combinator", role: "radiogroup", "aria-label": "Combine the conditions with", dataset: { role: "combinator" } },
      ["and", "or"].map((value) => [
        h("input", {
          type: "radio",
          class: "btn-check",
          name: `${id}-combinator`,
          form: "rb-no-form", // owned by no form: grouped as radios, never submitted
          id: `${id}-${value}`,
          value,
          checked: combinator === value,
          dataset: { key: `${id}:${value}` },
          onchange: () => {
            group.combinator = value;
            this.render(`${id}:${value}`);
            this.changed(group);
          },
        }),
        h("label", { class: "btn btn-outline-primary", for: `${id}-${value}`, title: value === "and" ? "All conditions must match" : "At least one condition must match" }, value.toUpperCase()),
      ]),
    );
    const negate = h("div", { class: "form-check form-switch rb-negate mb-0", dataset: { role: "negate" } },
      h("input", {
        class: "form-check-input",
        type: "checkbox",
        role: "switch",
        id: `${id}-negate`,
        checked: Boolean(group.negate),
        dataset: { key: `${id}:negate` },
        onchange: (e) => {
          if (e.target.checked) group.negate = true;
          else delete group.negate;
          this.render(`${id}:negate`);
          this.changed(group);
        },
      }),
      h("label", { class: "form-check-label", for: `${id}-negate` }, "Exclude", h("span", { class: "visually-hidden" }, " (none of the following)")),
    );
    const head = h("div", { class: "rb-group-head" },
      pills,
      h("span", { class: "rb-group-title", id: `${id}-title` }, isRoot ? `Contacts matching: ${title.toLowerCase()}` : title),
      h("div", { class: "rb-group-tools" },
        negate,
        isRoot ? null : this.removeButton(group, parent, "Remove this group"),
      ),
    );
    const errorSlot = h("div", { class: "rb-error", id: `${id}-error`, role: "alert", hidden: true });
    const list = h("ol", { class: "rb-children", "aria-label": title });
    children.forEach((child, index) => {
      const item = h("li", { class: "rb-item" });
      if (index > 0) item.append(h("span", { class: `rb-connector rb-connector-${combinator}`, "aria-hidden": "true" }, combinator.toUpperCase()));
      item.append(child && child.type === "group" ? this.renderGroup(child, depth + 1, group) : this.renderRule(child, group, index));
      list.append(item);
    });
    if (!children.length) list.append(isRoot ? this.emptyState() : h("li", { class: "rb-empty-group" }, "This group is empty: add a condition, or remove the group."));
    const canNest = depth < (this.catalog.limits.max_depth || 10);
    const foot = h("div", { class: "rb-group-foot" },
      h("button", { type: "button", class: "btn btn-sm btn-outline-primary", dataset: { key: `${id}:add` }, onclick: () => this.addRule(group) },
        icon("bi-plus-lg", "me-1"), "Add condition"),
      h("button", {
        type: "button",
        class: "btn btn-sm btn-outline-secondary",
        disabled: !canNest,
        title: canNest ? "A nested group combines its own conditions with AND or OR" : "Groups cannot be nested any deeper",
        dataset: { key: `${id}:addgroup` },
        onclick: () => this.addGroup(group),
      }, icon("bi-diagram-2", "me-1"), "Add group"),
    );
    if (isRoot && !children.length) {
      head.hidden = true; // the empty state says it all
      el.classList.add("rb-is-empty");
    }
    el.append(head, errorSlot, list, foot);
    return el;
  }

  emptyState() {
    const templates = this.root.dataset.templates === "on" ? this.catalog.templates : [];
    return h("li", { class: "rb-empty" },
      h("p", { class: "mb-2" }, icon("bi-funnel", "me-2 text-body-secondary"), "No conditions yet. Add one, or start from a template."),
      templates.length
        ? h("div", { class: "rb-template-grid" }, templates.map((t) =>
            h("button", { type: "button", class: "rb-template", onclick: () => this.applyTemplate(t), dataset: { template: t.key } },
              icon(t.icon || "bi-lightning", "rb-template-icon"),
              h("span", { class: "rb-template-text" }, h("strong", {}, t.label), h("small", {}, t.description)))))
        : null,
    );
  }

  removeButton(node, parent, label) {
    return h("button", {
      type: "button",
      class: "btn btn-sm rb-remove",
      "aria-label": label,
      title: label,
      dataset: { key: `${this.idOf(node)}:remove` },
      onclick: () => this.remove(node, parent),
    }, icon("bi-x-lg"));
  }

  renderRule(node, parent, index) {
    const id = this.idOf(node);
    const row = h("div", { class: "rb-rule", role: "group", "aria-label": `Condition ${index + 1}`, dataset: { node: id } });
    this.els.set(node, row);
    const line = h("div", { class: "rb-line" });
    const errorSlot = h("div", { class: "rb-error", id: `${id}-error`, role: "alert", hidden: true });
    const known = node && typeof node === "object" && ["field", "activity", "consent", "membership"].includes(node.type);
    if (!known) {
      line.append(
        h("span", { class: "rb-unknown" }, icon("bi-code-slash", "me-1"), h("code", {}, JSON.stringify(node).slice(0, 160))),
        h("span", { class: "rb-word" }, "Edit it in JSON mode."),
      );
    } else {
      const current = Catalog.key(node);
      const picker = subjectPicker({
        catalog: this.catalog,
        current: this.hasSubject(node) ? current : "",
        unknownLabel: this.unknownLabel(node),
        id: `${id}-subject`,
        label: `Condition ${index + 1}: what it is about`,
        onpick: (key) => this.pick(node, key),
      });
      picker.dataset.key = `${id}:subject`;
      this.enhancers.push(() => enhanceSubjectPicker(picker));
      line.append(h("div", { class: "rb-subject-wrap" }, picker));
      if (node.type === "field") this.fieldBody(node, line, id);
      else if (node.type === "activity") this.activityBody(node, line, id);
      else this.simpleBody(node, line, id);
    }
    const tools = h("div", { class: "rb-tools" });
    if (node && node.negate) {
      tools.append(h("button", {
        type: "button",
        class: "btn btn-sm rb-not",
        title: "This condition is negated; click to remove the NOT",
        "aria-pressed": "true",
        "aria-label": "Negated (NOT): click to remove",
        onclick: () => {
          delete node.negate;
          this.render(`${id}:remove`);
          this.changed(node);
        },
      }, "NOT"));
    }
    tools.append(this.removeButton(node, parent, "Remove this condition"));
    line.append(tools);
    row.append(line, errorSlot);
    if (known && node.type === "activity") row.append(this.whereList(node, id));
    return row;
  }

  hasSubject(node) {
    return Boolean({ field: node.field, activity: node.activity, consent: node.consent, membership: node.group }[node.type]);
  }

  unknownLabel(node) {
    switch (node.type) {
      case "field":
        return `${node.field} (not available)`;
      case "activity":
        return `Activity: ${node.activity} (unknown)`;
      case "consent":
        return `Consent: ${node.consent} (unknown)`;
      case "membership":
        return `Group: ${node.group} (unknown)`;
      default:
        return "";
    }
  }

  operatorSelect(node, id, options, onchange, label) {
    const known = options.some((o) => o.value === node.operator);
    const all = known || node.operator === undefined ? options : [...options, { value: node.operator, label: `${node.operator} (not allowed here)` }];
    const select = plainSelect({
      id: `${id}-operator`,
      label,
      options: all,
      value: node.operator,
      className: "rb-operator",
      dataset: { role: "operator", key: `${id}:operator` },
      onchange: (e) => onchange(e.target.value),
    });
    return select;
  }

  fieldBody(node, line, id) {
    if (!node.field) {
      line.append(h("span", { class: "rb-hint" }, "Choose a field, an activity, a consent or a group."));
      return;
    }
    const item = this.catalog.fields.get(node.field);
    const type = item ? item.type : null;
    const ops = type ? this.catalog.operators(type) : [];
    const label = item ? item.label : node.field;
    line.append(this.operatorSelect(node, id, ops, (op) => this.setOperator(node, item, op, id), `${label}: comparison`));
    const meta = (type && this.catalog.operator(type, node.operator)) || { input: "value" in node ? "text" : "none" };
    this.appendValue(line, { input: meta.input, item, target: node, id, label: `${label}: value`, suffix: meta.suffix });
  }

  appendValue(line, { input, item, target, id, label, suffix }) {
    const { el, enhance } = valueControl({
      input,
      item,
      target,
      changed: () => this.changed(target),
      id: `${id}-value`,
      label,
      suffix,
      catalog: this.catalog,
    });
    if (!el) return;
    const first = el.querySelector("input, select");
    if (first) first.dataset.key = `${id}:value`;
    line.append(el);
    this.enhancers.push(enhance);
  }

  setOperator(node, item, op, id) {
    const type = item ? item.type : null;
    const from = (type && this.catalog.operator(type, node.operator)) || { input: "text" };
    const to = (type && this.catalog.operator(type, op)) || { input: "text" };
    node.operator = op;
    const value = convertValue(node.value, from.input, to.input);
    if (value === undefined) delete node.value;
    else node.value = value;
    reorder(node, ["type", "field", "operator", "value", "negate"]);
    this.render(to.input === "none" ? `${id}:operator` : `${id}:value`);
    this.changed(node);
  }

  simpleBody(node, line, id) {
    const ops = node.type === "consent" ? this.catalog.data.consent_operators : this.catalog.data.membership_operators;
    const what = node.type === "consent" ? "Consent" : "Group membership";
    line.append(this.operatorSelect(node, id, ops, (op) => {
      node.operator = op;
      this.changed(node);
    }, `${what}: condition`));
  }

  activityBody(node, line, id) {
    const count = node.count && typeof node.count === "object" ? node.count : null;
    const never = count && count.operator === "eq" && count.value === 0;
    const countOps = [...this.catalog.data.activity.count_operators, { value: NEVER, label: "never" }];
    const countSelect = plainSelect({
      id: `${id}-count`,
      label: "How many times",
      options: countOps,
      value: never ? NEVER : count ? count.operator : "gte",
      className: "rb-count",
      dataset: { role: "count", key: `${id}:count` },
      onchange: (e) => {
        const value = e.target.value;
        if (value === NEVER) node.count = { operator: "eq", value: 0 };
        else node.count = { operator: value, value: never || !count ? 1 : count.value };
        reorder(node, ["type", "activity", "where", "count", "window", "negate"]);
        this.render(value === NEVER ? `${id}:count` : `${id}:times`);
        this.changed(node);
      },
    });
    const countWrap = h("div", { class: "rb-value rb-fixed", dataset: { role: "count" } }, countSelect);
    if (!never) {
      countWrap.append(
        h("input", {
          type: "text",
          inputmode: "numeric",
          class: "form-control form-control-sm rb-num",
          id: `${id}-times`,
          "aria-label": "Number of times",
          autocomplete: "off",
          value: count ? String(count.value ?? "") : "1",
          dataset: { key: `${id}:times` },
          oninput: (e) => {
            const operator = node.count && node.count.operator ? node.count.operator : "gte";
            node.count = { operator, value: readNumber(e.target.value, { integer: true }) };
            reorder(node, ["type", "activity", "where", "count", "window", "negate"]);
            this.changed(node);
          },
        }),
        h("span", { class: "rb-word" }, "times"),
      );
    }
    line.append(countWrap);

    const window = node.window && typeof node.window === "object" ? node.window : null;
    const kind = !window ? "ever" : "between" in window ? "between" : "last_days";
    const windowSelect = plainSelect({
      id: `${id}-window`,
      label: "When",
      options: [
        { value: "ever", label: "ever" },
        { value: "last_days", label: "in the last" },
        { value: "between", label: "between" },
      ],
      value: kind,
      className: "rb-window",
      dataset: { role: "window", key: `${id}:window` },
      onchange: (e) => {
        const value = e.target.value;
        if (value === "ever") delete node.window;
        else if (value === "last_days") node.window = { last_days: 30 };
        else node.window = { between: [daysAgo(30), isoDate(new Date())] };
        reorder(node, ["type", "activity", "where", "count", "window", "negate"]);
        this.render(value === "ever" ? `${id}:window` : `${id}:windowvalue`);
        this.changed(node);
      },
    });
    const windowWrap = h("div", { class: "rb-value rb-fixed", dataset: { role: "window" } }, windowSelect);
    if (kind === "last_days") {
      windowWrap.append(
        h("input", {
          type: "text",
          inputmode: "numeric",
          class: "form-control form-control-sm rb-num",
          id: `${id}-days`,
          "aria-label": "Number of days",
          autocomplete: "off",
          value: String(window.last_days ?? ""),
          dataset: { key: `${id}:windowvalue` },
          oninput: (e) => {
            node.window = { last_days: readNumber(e.target.value, { integer: true }) };
            this.changed(node);
          },
        }),
        h("span", { class: "rb-word" }, "days"),
      );
    } else if (kind === "between") {
      const range = Array.isArray(window.between) ? [...window.between] : [null, null];
      const dateInput = (i, label, key) =>
        h("input", {
          type: "date",
          class: "form-control form-control-sm rb-date",
          "aria-label": label,
          value: typeof range[i] === "string" ? range[i] : "",
          dataset: key ? { key } : {},
          oninput: (e) => {
            range[i] = e.target.value || null;
            node.window = { between: [...range] };
            this.changed(node);
          },
        });
      windowWrap.append(dateInput(0, "From date", `${id}:windowvalue`), h("span", { class: "rb-word" }, "and"), dateInput(1, "To date"));
    }
    line.append(windowWrap);
  }

  whereList(node, id) {
    const where = Array.isArray(node.where) ? node.where : [];
    const list = h("ul", { class: "rb-where", "aria-label": "Activity filters", dataset: { role: "where" } });
    where.forEach((cond, j) => list.append(this.whereRow(node, cond, j, id)));
    const add = h("li", { class: "rb-where-add" },
      h("button", {
        type: "button",
        class: "btn btn-sm btn-link",
        dataset: { key: `${id}:addwhere` },
        onclick: () => {
          const cond = { field: "url", operator: "contains" };
          node.where = [...where, cond];
          reorder(node, ["type", "activity", "where", "count", "window", "negate"]);
          this.pristine.add(cond);
          this.render(`${this.idOf(cond)}:value`);
          this.afterChange();
        },
      }, icon("bi-funnel", "me-1"), where.length ? "Add another filter" : "Add a filter (URL contains…, campaign…)"),
    );
    list.append(add);
    return list;
  }

  whereRow(node, cond, j, parentId) {
    const id = this.idOf(cond);
    const li = h("li", { class: "rb-where-row", dataset: { node: id } });
    this.els.set(cond, li);
    const line = h("div", { class: "rb-line" });
    const meta = this.catalog.whereField(cond.field);
    const fieldValue = meta ? meta.field : String(cond.field);
    const options = this.catalog.whereFields.map((w) => ({ value: w.field, label: w.label }));
    if (!meta) options.push({ value: fieldValue, label: `${cond.field} (unknown)` });
    line.append(h("span", { class: "rb-word rb-where-word" }, j === 0 ? "where" : "and"));
    line.append(
      plainSelect({
        id: `${id}-field`,
        label: `Filter ${j + 1}: activity field`,
        options,
        value: fieldValue,
        className: "rb-where-field",
        dataset: { role: "subject", key: `${id}:subject` },
        onchange: (e) => {
          const next = this.catalog.whereField(e.target.value);
          const type = next ? next.type : "text";
          const keyed = next && next.keyed;
          const keep = meta && meta.type === type;
          replaceNode(cond, {
            field: keyed ? "data." : e.target.value,
            operator: keep ? cond.operator : this.catalog.defaultOperator(type),
            ...(keep && "value" in cond ? { value: cond.value } : {}),
          });
          this.render(keyed ? `${id}:key` : `${id}:operator`);
          this.changed(cond);
        },
      }),
    );
    if (meta && meta.keyed) {
      line.append(
        h("input", {
          type: "text",
          class: "form-control form-control-sm rb-key",
          id: `${id}-key`,
          "aria-label": "Data field name",
          placeholder: "field name",
          autocomplete: "off",
          spellcheck: "false",
          value: String(cond.field).slice(5),
          dataset: { role: "subject", key: `${id}:key` },
          oninput: (e) => {
            cond.field = `data.${e.target.value.trim()}`;
            this.changed(cond);
          },
        }),
      );
    }
    const type = meta ? meta.type : "text";
    const ops = this.catalog.operators(type);
    line.append(this.operatorSelect(cond, id, ops, (op) => this.setOperator(cond, { type, choices: [] }, op, id), `Filter ${j + 1}: comparison`));
    const opMeta = this.catalog.operator(type, cond.operator) || { input: "value" in cond ? "text" : "none" };
    this.appendValue(line, { input: opMeta.input, item: null, target: cond, id, label: `Filter ${j + 1}: value`, suffix: opMeta.suffix });
    line.append(
      h("div", { class: "rb-tools" },
        h("button", {
          type: "button",
          class: "btn btn-sm rb-remove",
          "aria-label": `Remove filter ${j + 1}`,
          title: "Remove this filter",
          onclick: () => {
            node.where = node.where.filter((c) => c !== cond);
            if (!node.where.length) delete node.where;
            this.render(`${parentId}:addwhere`);
            this.changed(node);
          },
        }, icon("bi-x-lg")),
      ),
    );
    li.append(line, h("div", { class: "rb-error", id: `${id}-error`, role: "alert", hidden: true }));
    return li;
  }

  // -- editing ----------------------------------------------------------------------------------

  pick(node, key) {
    const sep = key.indexOf(":");
    const kind = key.slice(0, sep);
    const name = key.slice(sep + 1);
    const negate = node.negate;
    const id = this.idOf(node);
    if (kind === "field") {
      const item = this.catalog.fields.get(name);
      const before = node.type === "field" && node.field ? this.catalog.fields.get(node.field) : null;
      const sameType = before && before.type === item.type && !item.choices && !before.choices;
      if (sameType) node.field = name;
      else {
        const operator = this.catalog.defaultOperator(item.type);
        const meta = this.catalog.operator(item.type, operator);
        replaceNode(node, { type: "field", field: name, operator, ...(meta && meta.input === "days" ? { value: 30 } : {}) });
      }
    } else if (kind === "activity") {
      if (node.type === "activity") node.activity = name;
      else replaceNode(node, { type: "activity", activity: name });
    } else if (kind === "consent") {
      if (node.type === "consent") node.consent = name;
      else replaceNode(node, { type: "consent", consent: name, operator: "agreed" });
    } else if (kind === "membership") {
      if (node.type === "membership") node.group = name;
      else replaceNode(node, { type: "membership", group: name, operator: "is_member" });
    }
    if (negate) node.negate = true;
    this.pristine.delete(node);
    const next = kind === "field" ? "value" : kind === "activity" ? "count" : "operator";
    this.render();
    if (!this.focusKey(`${id}:${next}`, { open: true })) this.focusKey(`${id}:operator`);
    this.changed(node);
  }

  addRule(group) {
    if (this.tooBig()) return;
    const node = { type: "field" };
    group.children = [...(group.children || []), node];
    this.pristine.add(node);
    this.render();
    this.focusKey(`${this.idOf(node)}:subject`, { open: true });
    this.afterChange();
  }

  addGroup(group) {
    if (this.tooBig()) return;
    const inner = { type: "field" };
    const child = { type: "group", combinator: group.combinator === "or" ? "and" : "or", children: [inner] };
    group.children = [...(group.children || []), child];
    this.pristine.add(inner);
    this.render();
    this.focusKey(`${this.idOf(inner)}:subject`, { open: true });
    this.afterChange();
  }

  tooBig() {
    if (countNodes(this.tree.root) < (this.catalog.limits.max_nodes || 500)) return false;
    this.showAlert(`A condition can have at most ${this.catalog.limits.max_nodes} parts.`);
    return true;
  }

  remove(node, parent) {
    const siblings = parent.children;
    const index = siblings.indexOf(node);
    siblings.splice(index, 1);
    this.render();
    const next = siblings[index] || siblings[index - 1];
    const nextId = next ? this.idOf(next) : "";
    const focused = next && (next.type === "group" ? this.focusKey(`${nextId}:${next.combinator === "or" ? "or" : "and"}`)
      : this.focusKey(`${nextId}:operator`) || this.focusKey(`${nextId}:count`) || this.focusKey(`${nextId}:subject`));
    if (!focused) this.focusKey(`${this.idOf(parent)}:add`);
    this.afterChange();
  }

  // -- templates --------------------------------------------------------------------------------

  renderTemplateMenu() {
    if (!this.templateMenu) return;
    const templates = this.root.dataset.templates === "on" ? this.catalog.templates : [];
    this.templateMenu.hidden = !templates.length;
    const menu = this.templateMenu.querySelector(".dropdown-menu");
    menu.replaceChildren(
      ...templates.map((t) =>
        h("li", {}, h("button", { type: "button", class: "dropdown-item rb-template-item", dataset: { template: t.key }, onclick: () => this.applyTemplate(t) },
          icon(t.icon || "bi-lightning", "me-2 text-primary"),
          h("span", {}, h("span", { class: "d-block fw-medium" }, t.label), h("small", { class: "text-body-secondary" }, t.description)))),
      ),
    );
  }

  applyTemplate(template) {
    if (this.serialize() && this.mode === "visual" && !window.confirm(`Replace the current conditions with “${template.label}”?`)) return;
    const tree = deepClone(template.tree);
    this.hideJsonError();
    this.setTree(tree);
    const name = document.querySelector(this.root.dataset.nameInput || "#id_name");
    const code = document.querySelector(this.root.dataset.codeInput || "#id_code");
    if (name && !name.value.trim()) {
      name.value = template.name;
      name.dispatchEvent(new Event("input", { bubbles: true }));
    }
    if (code && !code.disabled && !code.value.trim()) code.value = slug(template.name);
    if (this.enabledBy && !this.enabledBy.checked) {
      this.enabledBy.checked = true;
      this.enabledBy.dispatchEvent(new Event("change", { bubbles: true }));
    }
    const first = this.tree.root.children[0];
    if (first) this.focusKey(`${this.idOf(first)}:subject`);
  }
}

/** The engine's words for a missing part ("missing: equals needs a value"), said for the builder. */
function friendly(message, key) {
  if (!/^missing\b/.test(message)) return message;
  if (key === "value") return "Enter a value: this comparison needs one.";
  if (["field", "activity", "consent", "group", "type"].includes(key)) return "Choose what this condition is about.";
  return message;
}

/** Whether the visual builder can show a parsed tree (anything else opens in JSON mode). */
function renderable(tree) {
  return Boolean(tree && typeof tree === "object" && !Array.isArray(tree) && tree.root && typeof tree.root === "object" && !Array.isArray(tree.root)
    && (tree.root.type !== "group" || Array.isArray(tree.root.children)));
}

/** Put the keys of `obj` in the canonical order (JSON stays readable in advanced mode). */
function reorder(obj, order) {
  const entries = Object.entries(obj);
  entries.sort(([a], [b]) => rank(order, a) - rank(order, b));
  for (const [key] of entries) delete obj[key];
  for (const [key, value] of entries) obj[key] = value;
}

function rank(order, key) {
  const i = order.indexOf(key);
  return i === -1 ? order.length : i;
}

export function slug(text) {
  const s = String(text)
    .normalize("NFKD")
    .replace(/[\u0300-\u036f]/g, "")
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "_")
    .replace(/^_+|_+$/g, "")
    .replace(/^[^a-z]+/, "");
  return s.slice(0, 50) || "group";
}
