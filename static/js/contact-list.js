// Contact list: after "select all" on a page, offer to select every contact matching the filters
// (Gmail-style). Choosing it enables the hidden `all_matching` input the bulk view reads.
export function initSelectAllMatching(root) {
  root.querySelectorAll("[data-contact-bulk]").forEach((form) => {
    if (form.dataset.allMatchingReady) return;
    form.dataset.allMatchingReady = "1";
    const banner = form.querySelector("[data-bulk-all-matching]");
    const input = form.querySelector("[data-bulk-all-matching-input]");
    const all = form.querySelector("[data-bulk-all]");
    if (!banner || !input || !all) return;
    const offer = banner.querySelector("[data-bulk-all-matching-offer]");
    const chosen = banner.querySelector("[data-bulk-all-matching-chosen]");
    const selectedText = form.querySelector("[data-bulk-selected-text]");
    const items = () => [...form.querySelectorAll("[data-bulk-item]")];
    const choose = (on) => {
      input.disabled = !on;
      offer.classList.toggle("d-none", on);
      chosen.classList.toggle("d-none", !on);
      if (selectedText) selectedText.classList.toggle("opacity-50", on);
    };
    const refresh = () => {
      const everything = items().length > 0 && items().every((c) => c.checked);
      banner.classList.toggle("d-none", !everything);
      if (!everything) choose(false);
    };
    banner.querySelector("[data-bulk-all-matching-select]").addEventListener("click", () => choose(true));
    banner.querySelector("[data-bulk-all-matching-clear]").addEventListener("click", () => {
      items().forEach((c) => { c.checked = false; });
      all.checked = false;
      all.dispatchEvent(new Event("change", { bubbles: true }));
      choose(false);
    });
    form.addEventListener("change", refresh);
    refresh();
  });
}
