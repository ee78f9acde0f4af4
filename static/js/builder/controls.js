// Form controls of the rule builder: the grouped field picker and the value inputs, one per
// "input" kind the catalog names for an operator (none, text, text_list, choice, choice_list, number,
// number_pair, date, date_pair, days, campaign, campaign_list). Each control edits `target.value`
// in place and calls `changed()`; Tom Select (window.TomSelect) makes long lists searchable and
// the plain <select> is kept when it is not available.

import { h, uid } from "./dom.js";
import { readNumber } from "./tree.js";

const SECTION_PREFIX = { custom: "Custom", account: "Account", activity: "Activity", consent: "Consent", membership: "Group" };
const SEARCH_THRESHOLD = 10; // more options than this: a searchable Tom Select

export function hasTomSelect() {
  return typeof window.TomSelect !== "undefined";
}

/** Destroy the Tom Select instances under `el` (before it is re-rendered or removed). */
export function destroyPickers(el) {
  el.querySelectorAll("select").forEach((select) => {
    if (select.tomselect) select.tomselect.destroy();
  });
}

export function visuallyHiddenLabel(forId, text) {
  return h("label", { class: "visually-hidden", for: forId }, text);
}

/** A plain <select class="form-select form-select-sm"> with [{value, label}] options. */
export function plainSelect({ id, label, options, value, onchange, className = "", dataset = {} }) {
  const select = h(
    "select",
    { class: `form-select form-select-sm ${className}`.trim(), id, "aria-label": label, dataset, onchange },
    options.map((o) => h("option", { value: o.value, selected: String(o.value) === String(value) }, o.label)),
  );
  return select;
}

/**
 * The grouped, searchable picker of what a condition is about: a Contact/Custom/Account field, an
 * activity type, a consent or a group. `current` is the picker key of the node ("field:country").
 */
export function subjectPicker({ catalog, current, unknownLabel, id, label, onpick }) {
  const select = h("select", { class: "form-select form-select-sm rb-subject", id, "aria-label": label, dataset: { role: "subject" } });
  select.append(h("option", { value: "" }, "Choose a field…"));
  let found = false;
  for (const group of catalog.optgroups) {
    const options = catalog.pickerOptions.filter((o) => o.section === group.value);
    if (!options.length) continue;
    const optgroup = h("optgroup", { label: group.label });
    for (const o of options) {
      const selected = o.value === current;
      found = found || selected;
      optgroup.append(
        h("option", { value: o.value, selected, dataset: { prefix: SECTION_PREFIX[o.section] || "", icon: o.icon || "", help: o.help || "" } }, o.text),
      );
    }
    select.append(optgroup);
  }
  if (current && !found) {
    // A field the catalog does not offer (retired, deleted, misspelt): shown, so nothing is lost.
    select.append(h("option", { value: current, selected: true, dataset: { prefix: "" } }, unknownLabel || current));
  }
  select.addEventListener("change", () => {
    if (select.isConnected && select.value && select.value !== current) onpick(select.value);
  });
  return select;
}

export function enhanceSubjectPicker(select) {
  if (!hasTomSelect() || select.tomselect) return;
  const ts = new window.TomSelect(select, {
    plugins: ["dropdown_input"],
    openOnFocus: false, // opened on click, typing, ↓ or Enter; the builder opens it when picking is next
    maxOptions: 300,
    refreshThrottle: 0, // filter on every key: Enter right after typing picks what was typed for

    searchField: ["text", "prefix", "optgroup", "help"],
    lockOptgroupOrder: true,
    allowEmptyOption: false,
    placeholder: "Choose a field…",
    render: {
      item: (data, escape) =>
        `<div>${data.prefix ? `<span class="rb-prefix">${escape(data.prefix)}</span>` : ""}${escape(data.text)}</div>`,
      option: (data, escape) =>
        `<div>${data.icon ? `<i class="bi ${escape(data.icon)} me-2 text-body-secondary" aria-hidden="true"></i>` : ""}${escape(data.text)}</div>`,
      no_results: () => '<div class="no-results">No field matches</div>',
    },
  });
  ts.removeOption("");
  flushOnEnter(ts);
  return ts;
}

/**
 * Tom Select filters the options a moment after each key (even with refreshThrottle 0). A fast
 * typist's Enter must pick a match for what was typed, not the option highlighted before: run the
 * pending filter first.
 */
function flushOnEnter(ts) {
  ts.control_input.addEventListener(
    "keydown",
    (event) => {
      if ((event.key === "Enter" || event.key === "Tab") && ts.refreshTimeout) {
        window.clearTimeout(ts.refreshTimeout);
        ts.refreshTimeout = null;
        ts._onInput();
      }
    },
    true,
  );
}

function enhanceList(select, { create = false, placeholder = "" } = {}) {
  if (!hasTomSelect() || select.tomselect) return null;
  const ts = new window.TomSelect(select, {
    plugins: select.multiple ? ["remove_button"] : [],
    openOnFocus: false,
    maxOptions: 300,
    refreshThrottle: 0,
    create,
    persist: false,
    createOnBlur: create,
    placeholder,
    allowEmptyOption: !select.multiple,
    render: create ? { option_create: (data, escape) => `<div class="create">Add <strong>${escape(data.input)}</strong>…</div>` } : {},
  });
  flushOnEnter(ts);
  return ts;
}

/**
 * The value control(s) for `input` (from the catalog's operator metadata) editing `target.value`.
 * `item` is the field's catalog entry (choices), `suffix` a word after the value ("days").
 * Returns {el, enhance}: call enhance() once `el` is in the document (Tom Select needs that).
 */
export function valueControl({ input, item, target, changed, id, label, suffix, catalog }) {
  const wrap = h("div", { class: `rb-value rb-value-${input}`, dataset: { role: "value" } });
  const enhancers = [];
  const set = (value) => {
    // TRICKY: Tom Select may fire its change after a re-render replaced (and destroyed) this control;
    // a detached control reads its reverted <select> and must never overwrite the tree.
    if (!wrap.isConnected) return;
    if (value === null || value === undefined || (Array.isArray(value) && value.length === 0)) delete target.value;
    else target.value = value;
    changed(target);
  };
  const current = target.value;
  const textOf = (v) => (v === null || v === undefined ? "" : typeof v === "object" ? JSON.stringify(v) : String(v));

  const textInput = (value, { aria, numeric = false, integer = false, onvalue, width = "" }) =>
    h("input", {
      type: "text",
      class: `form-control form-control-sm ${width}`.trim(),
      id: aria.id,
      "aria-label": aria.label,
      inputmode: numeric ? (integer ? "numeric" : "decimal") : null,
      autocomplete: "off",
      spellcheck: numeric ? "false" : null,
      value: textOf(value),
      oninput: (e) => onvalue(numeric ? readNumber(e.target.value, { integer }) : e.target.value),
    });

  const dateInput = (value, aria, onvalue) =>
    h("input", {
      type: "date",
      class: "form-control form-control-sm rb-date",
      id: aria.id,
      "aria-label": aria.label,
      value: typeof value === "string" ? value : "",
      oninput: (e) => onvalue(e.target.value || null),
    });

  const pair = (makeOne) => {
    const values = Array.isArray(current) ? current : [null, null];
    const both = [values[0] ?? null, values[1] ?? null];
    const update = (i) => (v) => {
      both[i] = v;
      set(both[0] === null && both[1] === null ? null : [...both]);
    };
    return [
      makeOne(both[0], { id, label: `${label}: from` }, update(0)),
      h("span", { class: "rb-word" }, "and"),
      makeOne(both[1], { id: uid("rb-to"), label: `${label}: to` }, update(1)),
    ];
  };

  switch (input) {
    case "none":
      return { el: null, enhance: () => {} };
    case "text":
      wrap.append(textInput(current, { aria: { id, label }, onvalue: (v) => set(v === "" ? null : v), width: "rb-text" }));
      break;
    case "number":
      wrap.append(textInput(current, { aria: { id, label }, numeric: true, onvalue: set, width: "rb-num" }));
      break;
    case "days":
      wrap.append(textInput(current, { aria: { id, label: `${label} (days)` }, numeric: true, integer: true, onvalue: set, width: "rb-num" }));
      break;
    case "number_pair":
      wrap.append(
        ...pair((v, aria, onvalue) => textInput(v, { aria, numeric: true, onvalue, width: "rb-num" })),
      );
      break;
    case "date":
      wrap.append(dateInput(current, { id, label }, set));
      break;
    case "date_pair":
      wrap.append(...pair((v, aria, onvalue) => dateInput(v, aria, onvalue)));
      break;
    case "choice":
    case "choice_list":
    case "campaign":
    case "campaign_list":
    case "text_list": {
      const multiple = input.endsWith("_list");
      const campaign = input.startsWith("campaign");
      let options = campaign
        ? catalog.campaigns.map((c) => [String(c.value), c.label])
        : input === "text_list"
          ? []
          : (item && item.choices) || [];
      const selected = (multiple ? (Array.isArray(current) ? current : current == null ? [] : [current]) : current == null ? [] : [current]).map(
        (v) => (typeof v === "object" ? JSON.stringify(v) : String(v)),
      );
      const known = new Set(options.map(([v]) => v));
      // Values typed before, or no longer among the choices, stay visible (the server says what is wrong).
      options = options.concat(selected.filter((v) => !known.has(v)).map((v) => [v, v]));
      const select = h("select", {
        class: "form-select form-select-sm rb-list",
        id,
        "aria-label": label,
        multiple: multiple || null,
        dataset: { role: "value-select" },
      });
      if (!multiple) select.append(h("option", { value: "" }, campaign ? "Choose a campaign…" : "Choose…"));
      // Keep the stored order of selected values (Tom Select shows items in the order of `selected`).
      for (const [v, text] of options) select.append(h("option", { value: v, selected: selected.includes(v) }, text));
      const read = () => {
        const raw = select.tomselect ? select.tomselect.getValue() : multiple ? [...select.selectedOptions].map((o) => o.value) : select.value;
        const list = (Array.isArray(raw) ? raw : raw === "" ? [] : [raw]).map((v) => (campaign && /^\d+$/.test(v) ? Number(v) : v));
        set(multiple ? list : list.length ? list[0] : null);
      };
      select.addEventListener("change", read);
      wrap.append(select);
      const searchable = multiple || options.length > SEARCH_THRESHOLD;
      if (searchable) {
        enhancers.push(() => {
          const ts = enhanceList(select, {
            create: input === "text_list",
            placeholder: input === "text_list" ? "Type a value, Enter to add…" : multiple ? "Choose one or more…" : "Search…",
          });
          if (ts && multiple) ts.setValue(selected, true); // the stored order, silently
        });
      }
      break;
    }
    default:
      wrap.append(textInput(current, { aria: { id, label }, onvalue: (v) => set(v === "" ? null : v) }));
  }
  if (suffix) wrap.append(h("span", { class: "rb-word" }, suffix));
  return { el: wrap, enhance: () => enhancers.forEach((fn) => fn()) };
}

/** Convert a value between input kinds when the operator changes, keeping what still fits. */
export function convertValue(value, from, to) {
  if (from === to) return value;
  if (to === "none") return undefined;
  const single = (v) => (Array.isArray(v) ? v[0] : v);
  const listy = (k) => k.endsWith("_list");
  if (value === undefined || value === null) return to === "days" ? 30 : undefined;
  if (listy(to) && listy(from)) return value;
  if (listy(to) && !listy(from) && !from.endsWith("_pair")) return [value];
  if (!listy(to) && listy(from) && !to.endsWith("_pair")) return single(value);
  if ((from === "text" && to === "choice") || (from === "choice" && to === "text")) return value;
  if (to === "days") return 30;
  return undefined;
}
