// Site-wide behaviour, loaded on every page. Small, dependency-free modules.
import { initBulkSelection } from "./bulk-select.js";
import { initConfirm } from "./confirm.js";
import { initHistoryBack } from "./history-back.js";
import { initPickers } from "./pickers.js";
import { initSelectAllMatching } from "./contact-list.js";

function init(root) {
  initBulkSelection(root);
  initPickers(root);
  initSelectAllMatching(root);
}

document.addEventListener("DOMContentLoaded", () => { initConfirm(); initHistoryBack(); init(document); });
// htmx swaps in new content: wire it up too.
document.addEventListener("htmx:load", (event) => init(event.target));
