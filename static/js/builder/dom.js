// Tiny DOM helpers for the rule builder: element creation, unique ids, the CSRF token.

let counter = 0;

/** A document-unique id with a readable prefix. */
export function uid(prefix = "rb") {
  counter += 1;
  return `${prefix}-${counter}`;
}

/**
 * h("button", {class: "btn", onclick: fn, dataset: {role: "x"}}, "Label", child) → HTMLElement.
 * Attributes set to null/undefined/false are skipped; `true` sets an empty attribute.
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") el.className = value;
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (key === "text") el.textContent = value;
    else if (key.startsWith("on") && typeof value === "function") el.addEventListener(key.slice(2), value);
    else if (key === "value" && "value" in el) el.value = value;
    else if (key === "checked" || key === "selected" || key === "hidden" || key === "disabled") el[key] = Boolean(value);
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** A decorative Bootstrap icon. */
export function icon(name, extra = "") {
  return h("i", { class: `bi ${name} ${extra}`.trim(), "aria-hidden": "true" });
}

/** The CSRF token: the form's hidden input, else <body hx-headers>, else the csrftoken cookie. */
export function csrfToken(root = document) {
  const input = root.querySelector("input[name=csrfmiddlewaretoken]") || document.querySelector("input[name=csrfmiddlewaretoken]");
  if (input && input.value) return input.value;
  try {
    const headers = JSON.parse(document.body.getAttribute("hx-headers") || "{}");
    if (headers["X-CSRFToken"]) return headers["X-CSRFToken"];
  } catch (_) {
    /* fall through to the cookie */
  }
  const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
  return match ? decodeURIComponent(match[1]) : "";
}

/** Calls `fn` once `wait` ms have passed without another call. */
export function debounce(fn, wait) {
  let timer = null;
  const debounced = (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), wait);
  };
  debounced.cancel = () => clearTimeout(timer);
  return debounced;
}

export function formatNumber(n) {
  return typeof n === "number" ? n.toLocaleString("en-US") : String(n ?? "—");
}
