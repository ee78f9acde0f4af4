// "Go back" links (data-history-back): the previous page when there is one, else the link's own href.
// A listener, not href="javascript:…", which the Content-Security-Policy blocks.
export function initHistoryBack() {
  document.addEventListener("click", (event) => {
    const link = event.target.closest("a[data-history-back]");
    if (!link || window.history.length < 2) return;
    event.preventDefault();
    window.history.back();
  });
}
