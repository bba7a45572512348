// A grid of result tiles as one tab stop: the arrow keys move between the tiles (a roving tabindex on their links),
// Enter opens one, Space selects it, Shift+Space or Shift+click selects a range, Escape clears the selection, and
// "m" asks for more like the focused one. Each tile's corner box selects it by mouse; while anything is selected a
// plain click selects too. The page's keep and export bars act on what is selected.
export function tileGrid(list, { onMoreLikeThis, onChange = () => {} }) {
  const selected = new Set(); // image IDs
  let anchor = null; // where a range starts: the tile selected last
  const tiles = () => [...list.querySelectorAll(":scope > .result")];

  function adopt(tile) {
    for (const control of tile.querySelectorAll("a, button")) control.tabIndex = -1;
    const box = document.createElement("input");
    box.type = "checkbox";
    box.className = "result-select";
    box.tabIndex = -1;
    box.setAttribute("aria-label", `Select ${tile.querySelector(".result-name")?.dataset.name || "this image"}`);
    tile.append(box);
    tile.dataset.grid = "1";
    show(tile);
  }

  function show(tile) {
    const on = selected.has(tile.dataset.id);
    tile.classList.toggle("selected", on);
    tile.querySelector(".result-select").checked = on;
    const link = tile.querySelector(".result-link");
    const name = tile.querySelector(".result-name")?.dataset.name || "";
    if (on) link.setAttribute("aria-label", `${name}, selected`); else link.removeAttribute("aria-label");
  }

  function refresh() {
    const all = tiles();
    if (!all.length && selected.size) { selected.clear(); anchor = null; changed(); }
    for (const tile of all) if (!tile.dataset.grid) adopt(tile);
    const links = all.map((tile) => tile.querySelector(".result-link"));
    if (links.length && !links.some((link) => link.tabIndex === 0)) links[0].tabIndex = 0;
  }

  function changed() {
    list.classList.toggle("selecting", selected.size > 0);
    onChange([...selected]);
  }

  function focusAt(index) {
    const all = tiles();
    const tile = all[Math.max(0, Math.min(index, all.length - 1))];
    if (!tile) return;
    for (const other of all) other.querySelector(".result-link").tabIndex = other === tile ? 0 : -1;
    tile.querySelector(".result-link").focus();
  }

  function toggle(index, range) {
    const all = tiles();
    const from = range && anchor !== null ? Math.min(anchor, index) : index;
    const to = range && anchor !== null ? Math.max(anchor, index) : index;
    const on = range ? true : !selected.has(all[index].dataset.id);
    for (const tile of all.slice(from, to + 1)) {
      if (on) selected.add(tile.dataset.id); else selected.delete(tile.dataset.id);
      show(tile);
    }
    anchor = index;
    changed();
  }

  const indexOf = (element) => tiles().indexOf(element.closest(".result"));

  list.addEventListener("keydown", (event) => {
    if (!event.target.classList.contains("result-link")) return;
    const at = indexOf(event.target);
    const first = tiles()[0];
    const columns = Math.max(1, Math.round(list.clientWidth / (first?.offsetWidth || 1)));
    const moves = { ArrowRight: 1, ArrowLeft: -1, ArrowDown: columns, ArrowUp: -columns };
    if (event.key in moves) focusAt(at + moves[event.key]);
    else if (event.key === "Home") focusAt(0);
    else if (event.key === "End") focusAt(tiles().length - 1);
    else if (event.key === " ") toggle(at, event.shiftKey);
    else if (event.key === "Escape" && selected.size) clear();
    else if (event.key === "m" && onMoreLikeThis) onMoreLikeThis(at);
    else return;
    event.preventDefault();
  });
  // capture: before the link's own click (which opens the lightbox) when the click selects
  list.addEventListener("click", (event) => {
    const tile = event.target.closest(".result");
    if (!tile || event.target.closest("a:not(.result-link), button")) return; // the tile's other links and buttons
    const onBox = event.target.classList.contains("result-select");
    const selects = onBox || event.shiftKey || (selected.size > 0 && !event.ctrlKey && !event.metaKey);
    if (!selects) return;
    if (!onBox) event.preventDefault();
    event.stopPropagation();
    toggle(indexOf(tile), event.shiftKey);
  }, true);
  list.addEventListener("focusin", (event) => { // a tile clicked or returned to keeps the tab stop
    if (!event.target.classList.contains("result-link")) return;
    for (const link of list.querySelectorAll(".result-link")) link.tabIndex = link === event.target ? 0 : -1;
  });
  new MutationObserver(refresh).observe(list, { childList: true });

  function clear() {
    selected.clear();
    anchor = null;
    for (const tile of tiles()) show(tile);
    changed();
  }

  return {
    ids: () => tiles().map((tile) => tile.dataset.id).filter((id) => selected.has(id)), // in the order shown
    has: (id) => selected.has(id),
    toggleId(id) {
      const index = tiles().findIndex((tile) => tile.dataset.id === id);
      if (index >= 0) toggle(index, false);
    },
    clear,
  };
}
