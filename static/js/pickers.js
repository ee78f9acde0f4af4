// Searchable pickers (Tom Select) for <select data-picker>. With data-picker-url the options are
// loaded from a JSON endpoint returning {"results": [{"id": .., "text": ..}]} as the user types.
export function initPickers(root) {
  if (typeof window.TomSelect === "undefined") return;
  root.querySelectorAll("select[data-picker]").forEach((select) => {
    if (select.tomselect) return;
    const url = select.dataset.pickerUrl;
    const options = {
      plugins: select.multiple ? ["remove_button"] : [],
      maxOptions: 50,
      refreshThrottle: 0, // filter at once: Enter right after typing picks what the user sees
      allowEmptyOption: true,
      placeholder: select.getAttribute("placeholder") || "Type to search…",
    };
    if (select.multiple) {
      // Tom Select keeps the typed text after a pick: the next name would be typed after it.
      options.onItemAdd = function onItemAdd() {
        this.setTextboxValue("");
        this.refreshOptions(false);
      };
    }
    if (url) {
      Object.assign(options, {
        valueField: "id",
        labelField: "text",
        searchField: ["text"],
        shouldLoad: (query) => query.length > 0,
        load: (query, callback) => {
          fetch(`${url}${url.includes("?") ? "&" : "?"}q=${encodeURIComponent(query)}`, { credentials: "same-origin" })
            .then((r) => r.json()).then((data) => callback(data.results)).catch(() => callback());
        },
      });
    }
    new window.TomSelect(select, options);
  });
}
