// The search page's filters: folder (the whole tree), camera, file type, date taken and whether there is one, each
// choice with its image count from /api/filters (loaded when the panel first opens). Values live in the URL.
import { createFolderPicker } from "./folder_picker.js";
import { apiGet } from "./api.js";

export const FILTER_KEYS = ["folder", "camera", "format", "dated", "from", "to"];

export function createFilters({ onChange }) {
  const panel = document.getElementById("filters");
  const summary = panel.querySelector("summary");
  const selects = { camera: document.getElementById("camera"), format: document.getElementById("format"),
    dated: document.getElementById("dated") };
  const dates = { from: document.getElementById("from"), to: document.getElementById("to") };
  const picker = createFolderPicker(document.getElementById("folder"), document.getElementById("folder-list"),
    { onChoose: () => onChange(values()) });
  let loading = null;

  function values() {
    return { folder: picker.value, camera: selects.camera.value, format: selects.format.value,
      dated: selects.dated.value, from: dates.from.value, to: dates.to.value };
  }

  function load() {
    loading ||= apiGet("/api/filters").then(fill).catch(() => { loading = null; });
    return loading;
  }

  function fill(facets) {
    picker.setFolders(facets.folders);
    setOptions(selects.camera, facets.cameras.map(({ value, count }) => [value, `${value} (${count})`]));
    setOptions(selects.format, facets.formats.map(({ value, count }) => [value, `${value} (${count})`]));
    setOptions(selects.dated, [["yes", `With a date (${facets.images - facets.undated})`],
      ["no", `Without a date (${facets.undated})`]]);
  }

  // The first option ("Any ...") stays; a value from the URL that the library does not list stays selectable.
  function setOptions(select, pairs) {
    const value = select.value;
    const options = pairs.map(([optionValue, label]) => new Option(label, optionValue));
    if (value && !pairs.some(([optionValue]) => optionValue === value)) options.push(new Option(value, value));
    select.replaceChildren(select.options[0], ...options);
    select.value = value;
  }

  function show(state) {
    picker.value = state.folder;
    for (const [key, select] of Object.entries(selects)) {
      if (state[key] && ![...select.options].some((option) => option.value === state[key])) {
        select.append(new Option(state[key], state[key]));
      }
      select.value = state[key];
    }
    for (const [key, input] of Object.entries(dates)) input.value = state[key];
    const active = FILTER_KEYS.filter((key) => state[key]).length;
    summary.textContent = active ? `Filters (${active} on)` : "Filters";
    if (active) {
      panel.open = true;
      load();
    }
  }

  panel.addEventListener("toggle", () => { if (panel.open) load(); });
  for (const control of [...Object.values(selects), ...Object.values(dates)]) {
    control.addEventListener("change", () => onChange(values()));
  }
  return { show, values };
}
