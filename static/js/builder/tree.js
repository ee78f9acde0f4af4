// Pure helpers over "Rule tree format, version 1" (docs: /work/shared/DESIGN.md): no DOM here.
//
// Invariant: the builder edits the tree objects in place and never adds keys of its own, so a tree
// that is loaded and saved without edits comes back exactly as it was (key order aside).

export const NODE_TYPES = ["group", "field", "activity", "membership", "consent"];

export function emptyGroup(combinator = "and") {
  return { type: "group", combinator, children: [] };
}

/** Split "root.children[1].where[0].value" into ["root", "children", 1, "where", 0, "value"]. */
export function parsePath(path) {
  const tokens = [];
  for (const part of String(path || "").split(".")) {
    const re = /([^[\]]+)|\[(\d+)\]/g;
    let m;
    while ((m = re.exec(part)) !== null) tokens.push(m[2] !== undefined ? Number(m[2]) : m[1]);
  }
  return tokens;
}

/**
 * The deepest condition object an error path points into: a node (group/field/activity/...) or an
 * activity `where` entry, plus the key inside it ("value", "operator", "count", ...) when there is one.
 * Returns {target: null} when the path names the document itself ("version", "tree").
 */
export function locate(tree, path) {
  const tokens = parsePath(path);
  if (tokens[0] !== "root" || !tree || typeof tree !== "object") return { target: null, key: tokens[0] || null };
  let target = tree.root;
  let key = null;
  let i = 1;
  while (i < tokens.length) {
    const name = tokens[i];
    const index = tokens[i + 1];
    if ((name === "children" || name === "where") && typeof index === "number") {
      const list = target && target[name];
      if (!Array.isArray(list) || !list[index] || typeof list[index] !== "object") {
        key = name;
        break;
      }
      target = list[index];
      i += 2;
      continue;
    }
    key = typeof name === "string" ? name : null;
    break;
  }
  return { target: target && typeof target === "object" ? target : null, key };
}

/** "root.children[1].value: expected a number" → {path, message}; a message without a path → {path: ""}. */
export function splitError(text) {
  const m = /^((?:root|version|tree)(?:[.[][^\s:]*)?): ([\s\S]*)$/.exec(String(text || "").trim());
  return m ? { path: m[1], message: m[2] } : { path: "", message: String(text || "") };
}

/** Depth of a node within the tree (the root is 1), or 0 when it is not in the tree. */
export function depthOf(tree, target) {
  const walk = (node, depth) => {
    if (node === target) return depth;
    if (node && node.type === "group" && Array.isArray(node.children)) {
      for (const child of node.children) {
        const d = walk(child, depth + 1);
        if (d) return d;
      }
    }
    return 0;
  };
  return walk(tree.root, 1);
}

export function countNodes(node) {
  if (!node || typeof node !== "object") return 0;
  if (node.type === "group" && Array.isArray(node.children)) return 1 + node.children.reduce((n, c) => n + countNodes(c), 0);
  return 1;
}

/** The parent group of `target` (null for the root). */
export function parentOf(node, target) {
  if (!node || node.type !== "group" || !Array.isArray(node.children)) return null;
  for (const child of node.children) {
    if (child === target) return node;
    const found = parentOf(child, target);
    if (found) return found;
  }
  return null;
}

/** Mirrors segments.rules.uses_relative_dates: a relative date operator or a rolling activity window. */
export function usesRelativeDates(tree, relativeOperators) {
  const relative = new Set(relativeOperators || []);
  let found = false;
  const visit = (node, depth) => {
    if (found || !node || typeof node !== "object" || depth > 12) return;
    if (node.type === "group" && Array.isArray(node.children)) node.children.forEach((c) => visit(c, depth + 1));
    else if (node.type === "field") found = relative.has(node.operator);
    else if (node.type === "activity") found = Boolean(node.window && typeof node.window === "object" && "last_days" in node.window);
  };
  visit(tree && tree.root, 1);
  return found;
}

/** Replace the contents of `node` with those of `replacement`, keeping the object (and its identity). */
export function replaceNode(node, replacement) {
  for (const key of Object.keys(node)) delete node[key];
  Object.assign(node, replacement);
  return node;
}

export function deepClone(value) {
  return value === undefined ? undefined : JSON.parse(JSON.stringify(value));
}

export function isoDate(date) {
  const pad = (n) => String(n).padStart(2, "0");
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}`;
}

export function daysAgo(n) {
  const d = new Date();
  d.setDate(d.getDate() - n);
  return isoDate(d);
}

/** A number typed by the marketer: a finite number when it reads as one, else the text as typed. */
export function readNumber(text, { integer = false } = {}) {
  const t = String(text).trim();
  if (t === "") return null;
  const re = integer ? /^-?\d+$/ : /^-?(\d+\.?\d*|\.\d+)(e-?\d+)?$/i;
  if (re.test(t)) {
    const n = Number(t);
    if (Number.isFinite(n)) return n;
  }
  return t; // the server says what is wrong with it; the marketer's input is never thrown away
}
