// Campaign form: the live SMS character/segment count under the body (of the SMS as sent: with the opt-out
// instruction the server appends, data-sms-opt-out), the email-only fields (subject, preheader) shown only
// for email, and the daily cap only for a campaign sent when someone joins.
// On the variants page the counter is always on (SMS campaign).
import { describe, smsCount, withOptOut } from "./sms-count.js";

function init() {
  const form = document.querySelector("[data-channel-form]");
  const body = document.querySelector("[data-sms-source]");
  const counter = document.querySelector("[data-sms-count]");
  const channel = () => form?.querySelector("input[name=channel]:checked")?.value;
  const update = () => {
    const sms = form ? channel() === "sms" : counter && !counter.hidden;
    if (counter) {
      counter.hidden = !sms;
      if (sms && body) {
        const optOut = counter.dataset.smsOptOut || "";
        const sent = withOptOut(body.value, optOut);
        const added = sent !== body.value ? ` · with “${optOut}” at the end` : "";
        counter.textContent = describe(smsCount(sent)) + added;
      }
    }
    form?.querySelectorAll("[data-email-only]").forEach((el) => { el.hidden = channel() !== "email"; });
    const kind = form?.querySelector("input[name=kind]:checked")?.value ?? form?.querySelector("input[name=kind]")?.value;
    form?.querySelectorAll("[data-trigger-only]").forEach((el) => { el.hidden = kind !== "triggered"; });
  };
  body?.addEventListener("input", update);
  form?.addEventListener("change", update);
  update();
}

if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
else init();
