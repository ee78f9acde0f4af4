// Searchable pickers (Tom Select) for <select data-picker>. With data-picker-url the options are
// loaded from a JSON endpoint returning {"results": [{"id": .., "text": ..}]} as the user types.
//
// What every picker guarantees (issue 11, item 1):
// - Enter never submits the form. Enter while the answer to what was typed is still on its way picks
//   the first result of *that* answer once it arrives (never an option left from an earlier search).
// - Picked items are never selected by a click or deleted by Backspace: they go only with their ×
//   (multi) or the clear button (single), so typing after a pick always types into the search box.
// - After a pick the search box is empty and the previous search's results are gone.
// - An answer to an older search (slow network) never replaces the results of the newer one.

function remoteLoader(url, state) {
  return function load(query, callback) {
    const generation = state.generation;
    fetch(`${url}${url.includes("?") ? "&" : "?"}q=${encodeURIComponent(query)}`, { credentials: "same-origin" })
      .then((r) => r.json())
      .then((data) => {
        // Results of a search the user has since left (a pick cleared it, or the text changed) are dropped.
        if (generation !== state.generation || !this.inputValue().startsWith(query)) {
          delete this.loadedSearches[query]; // typed again later, it is searched again
          callback();
          return;
        }
        state.answered.add(query);
        callback(data.results);
      })
      .catch(() => { state.answered.add(query); callback(); });
  };
}

// Enter: handled before Tom Select sees it (capture on the wrapper), so that a stale option is never picked
// and the form is never submitted.
function guardEnter(ts, state) {
  ts.wrapper.addEventListener("keydown", (event) => {
    if (event.key !== "Enter" || event.isComposing) return;
    const query = ts.inputValue();
    const waiting = state.remote && query !== "" && !state.answered.has(query);
    if (waiting) {
      event.preventDefault();
      event.stopPropagation();
      state.pickOnLoad = query;
      return;
    }
    if (!ts.canSelect(ts.activeOption)) event.preventDefault(); // nothing to pick: do nothing, never submit
  }, true);
  ts.on("load", () => {
    const query = state.pickOnLoad;
    if (query === null || query !== ts.inputValue() || !state.answered.has(query)) return;
    state.pickOnLoad = null;
    const first = ts.activeOption || ts.dropdown_content.querySelector("[data-selectable]");
    if (first && ts.canSelect(first)) ts.onOptionSelect(new KeyboardEvent("keydown", { key: "Enter" }), first);
  });
  // Typing on after Enter means the user has not chosen yet.
  ts.on("type", (query) => { if (state.pickOnLoad !== null && query !== state.pickOnLoad) state.pickOnLoad = null; });
}

export function initPickers(root) {
  if (typeof window.TomSelect === "undefined") return;
  root.querySelectorAll("select[data-picker]").forEach((select) => {
    if (select.tomselect) return;
    const url = select.dataset.pickerUrl;
    const state = { remote: Boolean(url), answered: new Set(), generation: 0, pickOnLoad: null };
    const plugins = ["no_active_items", "no_backspace_delete"];
    if (select.multiple) plugins.push("remove_button");
    else if (!select.required) plugins.push({ name: "clear_button", options: { title: "Clear" } });
    const options = {
      plugins,
      maxOptions: 50,
      refreshThrottle: 0, // filter at once: Enter right after typing picks what the user sees
      loadThrottle: 200,
      // A remote picker's empty <option> only carries the placeholder: never list it as a choice.
      allowEmptyOption: !url,
      placeholder: select.getAttribute("placeholder") || "Type to search…",
      onItemAdd() {
        this.setTextboxValue("");
        if (url) {
          // Forget the results of the search just used: the next search starts from nothing.
          state.generation += 1;
          state.answered.clear();
          this.clearOptions();
          this.close();
        } else if (select.multiple) {
          this.refreshOptions(false);
        }
      },
    };
    if (url) {
      Object.assign(options, {
        valueField: "id",
        labelField: "text",
        searchField: ["text"],
        shouldLoad: (query) => query.length > 0,
        load: remoteLoader(url, state),
      });
    }
    guardEnter(new window.TomSelect(select, options), state);
  });
}
