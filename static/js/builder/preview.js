// Live preview: POST the tree to segments:rule_preview (debounced), show the count, the reachable
// counts, the first contacts and the describe() sentence. A newer edit aborts the request in flight
// (the server bounds what it has started with a statement timeout).
//
// It asks with ?live=1 (an unfinished or invalid tree is a normal answer, 200 {valid: false, errors},
// so the browser console stays clean) and ?group=<code> when editing a group (cycles show at once).
//
// The panel's root carries data-state = idle | loading | ready | error (tests wait on it).

import { csrfToken, debounce, formatNumber, h, icon } from "./dom.js";
import { splitError } from "./tree.js";

const DELAY_MS = 350;

export class PreviewPanel {
  constructor(panel, { url, group, contactUrl, onError, onResult }) {
    this.panel = panel;
    this.url = url ? previewUrl(url, group) : "";
    this.contactUrl = contactUrl || "";
    this.onError = onError || (() => {});
    this.onResult = onResult || (() => {});
    this.controller = null;
    this.sequence = 0;
    this.countEl = panel.querySelector("[data-preview-count]");
    this.reachEl = panel.querySelector("[data-preview-reach]");
    this.sentenceEl = panel.querySelector("[data-preview-description]");
    this.listEl = panel.querySelector("[data-preview-contacts]");
    this.statusEl = panel.querySelector("[data-preview-status]");
    this.send = debounce((tree) => this.fetch(tree), DELAY_MS);
  }

  /** A newer edit: cancel what is in flight and ask again once the marketer pauses. */
  schedule(tree) {
    this.abort();
    if (!this.url) return this.idle("The preview is not available here.");
    this.setState("loading");
    this.statusEl.replaceChildren(h("span", { class: "spinner-border spinner-border-sm me-2", "aria-hidden": "true" }), "Updating…");
    this.send(tree);
  }

  abort() {
    this.send.cancel();
    if (this.controller) this.controller.abort();
    this.controller = null;
  }

  setState(state) {
    this.panel.dataset.state = state;
  }

  /** Nothing to preview (an empty tree, JSON that does not parse): say why. */
  idle(message) {
    this.abort();
    this.setState("idle");
    this.countEl.textContent = "—";
    delete this.countEl.dataset.count;
    this.reachEl.replaceChildren();
    this.sentenceEl.textContent = "";
    this.listEl.replaceChildren();
    this.statusEl.replaceChildren(message);
  }

  async fetch(tree) {
    const controller = new AbortController();
    this.controller = controller;
    const sequence = ++this.sequence;
    let response;
    let data;
    try {
      response = await fetch(this.url, {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRFToken": csrfToken(this.panel) },
        body: JSON.stringify(tree),
        signal: controller.signal,
      });
      data = await response.json().catch(() => ({}));
    } catch (error) {
      if (error.name === "AbortError") return; // a newer edit took over
      this.failed("The preview could not be loaded; your conditions are kept. Check the connection.");
      return;
    }
    if (sequence !== this.sequence) return;
    this.controller = null;
    if (response.status === 400 || (response.ok && data.valid === false)) {
      this.setState("error");
      this.clearResult(); // never an earlier tree's count beside this one's error
      this.statusEl.replaceChildren(icon("bi-exclamation-triangle", "me-1"), "Fix the highlighted condition to see matching contacts.");
      const first = Array.isArray(data.errors) && data.errors[0];
      if (first && first.message) {
        this.onError({ path: first.path || "", message: first.message });
        return;
      }
      // The message may repeat the path ("root.value: expected a number"): keep the words only.
      const split = splitError(data.error || "");
      const path = data.path || split.path;
      const message = split.path && split.path === path ? split.message : data.error || "This condition is not valid.";
      this.onError({ path, message });
      return;
    }
    if (response.ok && data.timed_out) {
      this.failed(splitError(data.error || "").message || "The preview took too long and was stopped.", "bi-hourglass-split");
      return;
    }
    if (!response.ok) {
      const reason = data.error ? splitError(data.error).message : "";
      this.failed(reason ? `The preview failed: ${reason}` : `The preview failed (${response.status}); your conditions are kept.`);
      return;
    }
    this.render(data);
    this.onResult(data);
  }

  failed(message, iconName = "bi-wifi-off") {
    this.setState("error");
    this.clearResult();
    this.statusEl.replaceChildren(icon(iconName, "me-1"), message);
  }

  clearResult() {
    this.countEl.textContent = "—";
    delete this.countEl.dataset.count;
    this.reachEl.replaceChildren();
    this.listEl.replaceChildren();
  }

  render(data) {
    this.setState("ready");
    const count = Number(data.count) || 0;
    this.countEl.textContent = formatNumber(count);
    this.countEl.dataset.count = String(count);
    const reach = reachable(data);
    this.reachEl.replaceChildren(
      h("span", { class: "rb-reach-item", title: "Contacts with an email address who agreed to receive email" },
        icon("bi-envelope"), h("span", { dataset: { reach: "email" } }, formatNumber(reach.email)), " by email"),
      h("span", { class: "rb-reach-item", title: "Contacts with a phone number who agreed to receive SMS" },
        icon("bi-phone"), h("span", { dataset: { reach: "sms" } }, formatNumber(reach.sms)), " by SMS"),
    );
    this.sentenceEl.textContent = data.description || "";
    const contacts = Array.isArray(data.contacts) ? data.contacts : [];
    this.listEl.replaceChildren(...contacts.map((c) => this.contactItem(c)));
    if (count > contacts.length && contacts.length) {
      this.listEl.append(h("li", { class: "list-group-item small text-body-secondary" }, `and ${formatNumber(count - contacts.length)} more`));
    }
    const age = Number(data.counted_seconds_ago) || 0;
    // The same conditions counted a moment ago (by anyone) are shown with their age, not passed off as new.
    const counted = age >= 5 ? `Counted ${age} s ago.` : "";
    this.statusEl.replaceChildren(count ? counted : "No contact matches these conditions yet.");
  }

  contactItem(contact) {
    const name = contact.name || [contact.first_name, contact.last_name].filter(Boolean).join(" ") || contact.email || `Contact #${contact.id}`;
    const url = contact.url || (this.contactUrl && contact.id ? this.contactUrl.replace(/0\/?$/, `${contact.id}/`) : "");
    const detail = contact.email && contact.email !== name ? contact.email : contact.country || "";
    const body = [h("span", { class: "rb-contact-name" }, name), detail ? h("span", { class: "rb-contact-detail" }, detail) : null];
    return h("li", { class: "list-group-item" }, url ? h("a", { href: url, class: "rb-contact" }, body) : h("span", { class: "rb-contact" }, body));
  }
}

/** The endpoint with ?live=1 and, when editing a group, ?group=<its code>. */
function previewUrl(url, group) {
  const full = new URL(url, window.location.href);
  full.searchParams.set("live", "1");
  if (group) full.searchParams.set("group", group);
  return full.pathname + full.search;
}

function reachable(data) {
  const r = data.reachable;
  if (r && typeof r === "object") return { email: r.email ?? r.reachable_email ?? 0, sms: r.sms ?? r.reachable_sms ?? 0 };
  return { email: data.reachable_email ?? 0, sms: data.reachable_sms ?? 0 };
}
