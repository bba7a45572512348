// A folder picker: a combobox over the library's whole folder tree, each folder with its image count. Typing narrows
// the tree to folders whose path contains the text (their parents stay, for context); arrows, Enter and Escape work
// as in any list box (WAI-ARIA combobox pattern).

const SHOWN = 300; // rows drawn at once; typing narrows the rest
const keepEnd = (path, room = 36) => (path.length > room ? `…${path.slice(-(room - 1))}` : path); // top folders
const parentOf = (path) => (path.lastIndexOf("/") > 0 ? path.slice(0, path.lastIndexOf("/")) : "");

export function createFolderPicker(input, list, { onChoose }) {
  let folders = []; // [{value, count}], sorted by path
  let known = new Set();
  let chosen = "";
  let rows = []; // the folders listed now
  let active = -1;

  function depthOf(path) { // folders listed above it in the tree (the library's top folders have none)
    let depth = 0;
    for (let up = parentOf(path); up; up = parentOf(up)) if (known.has(up)) depth += 1;
    return depth;
  }

  // the text typed to narrow the tree, lower-cased; "" while the box shows the chosen folder
  function typed() {
    const text = input.value.trim();
    return text === chosen ? "" : text.toLowerCase();
  }

  function matching(needle) {
    if (!needle) return folders;
    const hits = folders.filter((folder) => folder.value.toLowerCase().includes(needle));
    const keep = new Set();
    for (const hit of hits) { // parents give a hit its place in the tree
      for (let path = hit.value; path && !keep.has(path); path = parentOf(path)) if (known.has(path)) keep.add(path);
    }
    return folders.filter((folder) => keep.has(folder.value));
  }

  function render() {
    const needle = typed();
    const found = matching(needle);
    rows = found.slice(0, SHOWN);
    const items = rows.map((folder, index) => {
      const item = document.createElement("li");
      item.id = `${list.id}-${index}`;
      item.setAttribute("role", "option");
      item.setAttribute("aria-selected", String(folder.value === chosen));
      const depth = depthOf(folder.value);
      item.style.paddingLeft = `${0.5 + depth}rem`;
      const name = document.createElement("span");
      name.className = "folder-name";
      name.textContent = depth ? folder.value.slice(folder.value.lastIndexOf("/") + 1) : keepEnd(folder.value);
      name.title = folder.value;
      const count = document.createElement("span");
      count.className = "folder-count";
      count.textContent = folder.count.toLocaleString();
      item.setAttribute("aria-label", `${folder.value}, ${folder.count} images`);
      item.append(name, count);
      item.addEventListener("mousedown", (event) => event.preventDefault()); // keep focus in the input
      item.addEventListener("click", () => choose(folder.value));
      return item;
    });
    if (!found.length) items.push(note(folders.length ? "No folder matches." : "Loading folders…"));
    if (found.length > SHOWN) items.push(note(`${(found.length - SHOWN).toLocaleString()} more: type to narrow.`));
    list.replaceChildren(...items);
    // the chosen folder, or while typing the first folder that matches (not a parent shown for context)
    const first = rows.findIndex((folder) => (needle ? folder.value.toLowerCase().includes(needle)
      : folder.value === chosen));
    setActive(rows.length ? Math.max(0, first) : -1);
  }

  function note(text) {
    const item = document.createElement("li");
    item.className = "folder-note";
    item.textContent = text;
    return item;
  }

  function setActive(index) {
    active = index;
    for (const [i, item] of [...list.querySelectorAll("[role=option]")].entries()) {
      item.classList.toggle("active", i === index);
      if (i === index) item.scrollIntoView({ block: "nearest" });
    }
    if (index >= 0) input.setAttribute("aria-activedescendant", `${list.id}-${index}`);
    else input.removeAttribute("aria-activedescendant");
  }

  function open() {
    if (!list.hidden) return;
    list.hidden = false;
    input.setAttribute("aria-expanded", "true");
    render();
  }

  function close() {
    list.hidden = true;
    input.setAttribute("aria-expanded", "false");
    input.removeAttribute("aria-activedescendant");
  }

  function choose(value) {
    close();
    input.value = value;
    if (value === chosen) return;
    chosen = value;
    onChoose(value);
  }

  input.addEventListener("focus", () => input.select());
  input.addEventListener("click", open);
  input.addEventListener("input", () => {
    list.hidden ? open() : render();
  });
  input.addEventListener("keydown", (event) => {
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      event.preventDefault();
      if (list.hidden) return open();
      const step = event.key === "ArrowDown" ? 1 : -1;
      if (rows.length) setActive((active + step + rows.length) % rows.length);
    } else if (event.key === "Enter") {
      event.preventDefault(); // never submits the search form with a half-typed folder
      const text = input.value.trim();
      if (!text) choose(""); // an emptied box means every folder
      else if (!list.hidden && active >= 0) choose(rows[active].value);
      else if (text.startsWith("/")) choose(text); // a path typed in full
    } else if (event.key === "Escape" && !list.hidden) {
      event.preventDefault();
      event.stopPropagation();
      close();
      input.value = chosen;
    }
  });
  input.addEventListener("blur", () => {
    close();
    input.value = chosen; // a choice is made by Enter or a click, not by leaving
  });

  return {
    get value() { return chosen; },
    set value(value) {
      chosen = value;
      input.value = value;
    },
    setFolders(entries) {
      folders = entries;
      known = new Set(entries.map((folder) => folder.value));
      if (!list.hidden) render();
    },
  };
}
