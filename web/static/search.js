// The search page: the query lives in the URL (shareable, back button works); results come from /api/search.
import { FILTER_KEYS, createFilters } from "./filters.js";
import { createLightbox } from "./lightbox.js";
import { apiGet, csrfToken, showMessage } from "./api.js";
import { exportForm } from "./export.js";
import { keepBar } from "./keep.js";
import { tileGrid } from "./tilegrid.js";
import { SAVED_RESULTS, resultTile, savedResults } from "./results.js";

const PAGE_SIZE = 40;
const form = document.getElementById("search-form");
const input = document.getElementById("q");
const fileInput = document.getElementById("image-input");
const imageButton = document.getElementById("image-button");
const queryImages = document.getElementById("query-images");
const results = document.getElementById("results");
const status = document.getElementById("status");
const keep = document.getElementById("keep-bar");
// the selected results when any are, else all those shown
const grid = tileGrid(results, {
  onMoreLikeThis: (index) => current && moreLikeThis(current.images[index]),
  onChange: (ids) => {
    keep.querySelector("label").textContent = ids.length ? `Keep the ${ids.length} selected in` : "Keep the images shown in";
    keep.querySelector(".export-form label").textContent = ids.length ? `Export the ${ids.length} selected as` : "Export as";
  },
});
const keptIds = () => {
  const chosen = grid.ids();
  return chosen.length ? chosen : current ? current.images.map((image) => image.id) : [];
};
keepBar(keep, () => ({ ids: keptIds() }));
exportForm(keep.querySelector(".export-form"), () => ({ ids: keptIds() }));
const moreButton = document.getElementById("more-button");
const weakerButton = document.getElementById("weaker-button");
const overlay = document.getElementById("drop-overlay");
const stripSection = document.getElementById("concept-strip-section");
const strip = document.getElementById("concept-strip");

let current = null; // {state, nextOffset, threshold, count, started}
const filters = createFilters({ onChange: (values) => go({ ...readState(), ...values, view: "" }) });
let generation = 0; // answers to superseded queries are dropped

function readState(search = window.location.search) {
  const params = new URLSearchParams(search);
  return {
    q: params.get("q") || "",
    upload: params.get("upload") || "",
    like: params.getAll("like"), // example images
    unlike: params.getAll("unlike"), // "not like this" images
    ...Object.fromEntries(FILTER_KEYS.map((key) => [key, params.get(key) || ""])),
    concept: params.get("concept") || "",
    selection: params.get("selection") || "",
    all: params.get("all") === "1", // no relevance cutoff: weaker matches too
    view: params.get("view") || "", // the result open in the lightbox
  };
}

function toParams(state) {
  const params = new URLSearchParams();
  if (state.q) params.set("q", state.q);
  if (state.upload) params.set("upload", state.upload);
  for (const id of state.like) params.append("like", id);
  for (const id of state.unlike) params.append("unlike", id);
  for (const key of [...FILTER_KEYS, "concept", "selection"]) if (state[key]) params.set(key, state[key]);
  if (state.all) params.set("all", "1");
  if (state.view) params.set("view", state.view);
  return params;
}

const isEmpty = (state) => !state.q.trim() && !state.upload && state.like.length === 0;

function showState(state) {
  input.value = state.q;
  filters.show(state);
  const chips = [];
  if (state.upload) chips.push(queryChip(`/api/uploads/${state.upload}`, "Uploaded image", () => go({ ...state, upload: "" })));
  for (const id of state.like) {
    chips.push(queryChip(`/api/images/${id}/thumbnail`, "Like this image",
      () => go({ ...state, like: state.like.filter((other) => other !== id) })));
  }
  for (const id of state.unlike) {
    const chip = queryChip(`/api/images/${id}/thumbnail`, "Not like this image",
      () => go({ ...state, unlike: state.unlike.filter((other) => other !== id) }));
    chip.classList.add("negative");
    chips.push(chip);
  }
  if (state.concept) {
    const chip = queryChip(`/api/concepts/${state.concept}/montage`, `Concept ${state.concept}`,
      () => go({ ...state, concept: "" }));
    chips.push(chip);
    apiGet(`/api/concepts/${state.concept}?limit=1`).then((concept) => {
      chip.querySelector("span").textContent = `In concept: ${concept.title}`;
      chip.querySelector("button").setAttribute("aria-label", `Remove the concept filter: ${concept.title}`);
    }).catch(() => {});
  }
  if (state.selection) {
    chips.push(queryChip("/static/favicon.svg", `In selection: ${state.selection}`,
      () => go({ ...state, selection: "" })));
  }
  queryImages.replaceChildren(...chips);
  document.title = state.q ? `${state.q} – pixcept` : "pixcept";
}

function queryChip(src, label, onRemove) {
  const chip = document.createElement("div");
  chip.className = "query-chip";
  const img = document.createElement("img");
  img.src = src;
  img.alt = label;
  const text = document.createElement("span");
  text.textContent = label;
  const remove = document.createElement("button");
  remove.type = "button";
  remove.className = "chip-remove";
  remove.textContent = "×";
  remove.setAttribute("aria-label", `Remove: ${label}`);
  remove.addEventListener("click", onRemove);
  chip.append(img, text, remove);
  return chip;
}

// Navigate to a new query: URL first (history entry), then results.
function go(state) {
  const params = toParams(state).toString();
  history.pushState(null, "", params ? `?${params}` : window.location.pathname);
  run(state);
}

async function run(state) {
  showState(state);
  results.replaceChildren();
  moreButton.hidden = true;
  weakerButton.hidden = true;
  stripSection.hidden = true;
  if (isEmpty(state)) {
    current = null;
    if (!status.dataset.empty) {
      status.textContent = state.concept ? "Describe what you are looking for in this concept."
        : "Describe what you are looking for, or drop or paste a picture.";
    }
    return;
  }
  current = { state, nextOffset: 0, threshold: null, count: 0, started: performance.now(), images: [] };
  if (!state.concept) showConcepts(state, current);
  if (restore(current)) {
    if (state.view) openView(state.view);
    return;
  }
  showMessage(status, "Searching…");
  await loadMore();
  if (state.view && current?.state === state) openView(state.view);
}

// The concepts that stand out for the query, best first; choosing one filters the results to it.
async function showConcepts(state, page) {
  const params = new URLSearchParams({ limit: "8" });
  if (state.q) params.set("q", state.q);
  if (state.upload) params.set("upload", state.upload);
  for (const id of state.like) params.append("like", id);
  let answer;
  try {
    answer = await apiGet(`/api/concepts/search?${params}`);
  } catch {
    return; // no concepts yet (409), or words it cannot read: the image results say why
  }
  if (page !== current || page.noGoodMatch || !answer.concepts.length) return;
  strip.replaceChildren(...answer.concepts.map((concept) => conceptButton(concept, state)));
  stripSection.hidden = false;
}

function conceptButton(concept, state) {
  const item = document.createElement("li");
  const button = document.createElement("button");
  button.type = "button";
  button.setAttribute("aria-label", `Only images in the concept ${concept.title} (${concept.size} images)`);
  const img = document.createElement("img");
  img.src = concept.montage_url;
  img.alt = "";
  img.loading = "lazy";
  const title = document.createElement("span");
  title.className = "concept-title";
  title.textContent = concept.title;
  const meta = document.createElement("span");
  meta.className = "concept-meta";
  meta.textContent = `${concept.size.toLocaleString()} images · ${concept.score.toFixed(3)}`;
  button.append(img, title, meta);
  button.addEventListener("click", () => go({ ...state, concept: String(concept.id) }));
  item.append(button);
  return item;
}

async function loadMore() {
  if (!current || current.nextOffset === null || current.loading) return;
  const mine = ++generation;
  const page = current;
  page.loading = true;
  const params = toParams(page.state);
  params.delete("all");
  params.delete("view");
  if (page.state.all) params.set("cutoff", "0");
  params.set("limit", PAGE_SIZE);
  params.set("offset", page.nextOffset);
  if (page.threshold !== null) params.set("threshold", page.threshold);
  try {
    const answer = await apiGet(`/api/search?${params}`);
    if (mine !== generation || page !== current) return;
    page.images.push(...answer.results);
    const tiles = answer.results.map((image) => resultTile(image, { onMoreLikeThis: moreLikeThis, onOpen: openImage }));
    if (answer.no_good_match) for (const tile of tiles) tile.classList.add("weak");
    results.append(...tiles);
    page.count += answer.results.length;
    keep.hidden = !page.count;
    page.threshold = answer.threshold;
    page.nextOffset = answer.next_offset;
    moreButton.hidden = !answer.has_more;
    weakerButton.hidden = page.state.all || answer.has_more;
    if (answer.no_good_match) {
      page.noGoodMatch = true;
      stripSection.hidden = true;
      showMessage(status, `No good match for “${page.state.q || "this image"}”: the library holds nothing like it, ` +
        "or the model does not know the words. The closest, but weak:");
      return;
    }
    const seconds = ((performance.now() - page.started) / 1000).toFixed(2);
    if (answer.undated_left_out !== null) page.undated = answer.undated_left_out;
    const undated = page.undated ? ` · ${plural(page.undated, "image")} without a date taken left out by the dates` : "";
    status.classList.remove("error-message");
    status.textContent = (page.count
      ? `${page.count}${answer.has_more ? "+" : ""} ${page.count === 1 ? "image" : "images"} (${seconds} s)`
      : "No images match. Try other words, or fewer filters.") + undated;
  } catch (error) {
    if (mine !== generation) return;
    if (!page.count) results.replaceChildren(); // an error replaces the results it stands for
    moreButton.hidden = true;
    showMessage(status, error.message, { error: true });
  } finally {
    page.loading = false;
  }
}

function moreLikeThis(image) {
  go({ ...readState(), q: "", upload: "", like: [image.id], unlike: [], view: "" });
  input.focus();
}

async function searchWithImage(file) {
  if (!file) return;
  if (!file.type.startsWith("image/")) {
    showMessage(status, `${file.name || "That file"} is not an image.`, { error: true });
    return;
  }
  showMessage(status, "Uploading the image…");
  results.replaceChildren(); // the previous query's results would read as this upload's
  stripSection.hidden = true;
  const body = new FormData();
  body.append("image", file);
  try {
    const response = await fetch("/api/uploads", { method: "POST", body, headers: { "X-CSRF-Token": csrfToken() } });
    const answer = await response.json().catch(() => ({}));
    if (!response.ok) throw new Error(answer.error?.message || `Upload failed (${response.status}).`);
    // the picture joins the words in the box (typed, maybe not searched yet); examples belong to the old query
    go({ ...readState(), q: input.value.trim(), upload: answer.id, like: [] });
  } catch (error) {
    showMessage(status, error.message, { error: true });
  }
}

const plural = (count, word) => `${count.toLocaleString()} ${word}${count === 1 ? "" : "s"}`;

form.addEventListener("submit", (event) => {
  event.preventDefault();
  go({ ...readState(), q: input.value.trim(), ...filters.values() });
});
imageButton.addEventListener("click", () => fileInput.click());
fileInput.addEventListener("change", () => {
  searchWithImage(fileInput.files[0]);
  fileInput.value = "";
});
moreButton.addEventListener("click", loadMore);
weakerButton.addEventListener("click", () => go({ ...readState(), all: true }));
window.addEventListener("popstate", () => {
  const state = readState();
  if (current && sameQuery(state, current.state)) { // only the lightbox changed: the results stay as they are
    current.state = { ...current.state, view: state.view };
    if (state.view) openView(state.view);
    else closeFromHistory();
    return;
  }
  run(state);
});

// -- the lightbox: a result over the results; its ID in the URL (view=ID), so Back closes it and links share it --

const sameQuery = (a, b) => toParams({ ...a, view: "" }).toString() === toParams({ ...b, view: "" }).toString();
let pushedView = false;
let closingFromHistory = false;
const MAX_EXAMPLES = Number(form.dataset.maxExamples); // the server's limit (indexer/search.py)
const withId = (ids, id) => [...ids.filter((other) => other !== id), id].slice(-MAX_EXAMPLES);
const lightbox = createLightbox({
  onMoreLikeThis: moreLikeThis,
  onAddExample: (image) => {
    const state = readState();
    go({ ...state, view: "", like: withId(state.like, image.id), unlike: state.unlike.filter((id) => id !== image.id) });
  },
  onNotLike: (image) => {
    const state = readState();
    go({ ...state, view: "", unlike: withId(state.unlike, image.id), like: state.like.filter((id) => id !== image.id) });
  },
  onMove: (image) => setView(image.id, false),
  selection: grid,
  onClose: ({ forQuery }) => {
    if (closingFromHistory) return;
    if (forQuery) pushedView = false; // the next query's URL follows this one's: Back returns to this image
    else if (pushedView) history.back(); // the entry the lightbox added goes, as Back would
    else setView("", false);
  },
});

function setView(id, push) {
  const url = new URL(window.location.href);
  if (id) url.searchParams.set("view", id); else url.searchParams.delete("view");
  if (push) history.pushState(null, "", url); else history.replaceState(null, "", url);
  if (current) current.state = { ...current.state, view: id };
}

function openImage(image) {
  const at = current.images.findIndex((other) => other.id === image.id);
  lightbox.open(current.images, Math.max(0, at));
  setView(image.id, true);
  pushedView = true;
}

async function openView(id) {
  const at = current.images.findIndex((image) => image.id === id);
  if (at >= 0) lightbox.open(current.images, at);
  else apiGet(`/api/images/${id}`).then((image) => lightbox.open([image], 0)).catch(() => setView("", false));
  pushedView = false;
}

function closeFromHistory() {
  closingFromHistory = true;
  lightbox.close();
  closingFromHistory = false;
  pushedView = false;
}

// -- coming back from another page: the results loaded before, at the same scroll position --

window.addEventListener("pagehide", () => {
  if (!current || !current.images.length) return;
  sessionStorage.setItem(SAVED_RESULTS, JSON.stringify({
    key: toParams({ ...current.state, view: "" }).toString(), images: current.images, nextOffset: current.nextOffset,
    threshold: current.threshold, noGoodMatch: Boolean(current.noGoodMatch), scrollY: window.scrollY,
  }));
});

function restore(page) {
  const saved = savedResults();
  sessionStorage.removeItem(SAVED_RESULTS);
  if (!saved || saved.key !== toParams({ ...page.state, view: "" }).toString()) return false;
  Object.assign(page, { images: saved.images, nextOffset: saved.nextOffset, threshold: saved.threshold,
    count: saved.images.length, noGoodMatch: saved.noGoodMatch });
  const tiles = saved.images.map((image) => resultTile(image, { onMoreLikeThis: moreLikeThis, onOpen: openImage }));
  if (saved.noGoodMatch) for (const tile of tiles) tile.classList.add("weak");
  results.append(...tiles);
  moreButton.hidden = saved.nextOffset === null;
  keep.hidden = !page.count;
  status.textContent = `${page.count}${saved.nextOffset === null ? "" : "+"} images`;
  requestAnimationFrame(() => window.scrollTo(0, saved.scrollY));
  return true;
}
document.addEventListener("keydown", (event) => { // "/" jumps to the search box, as on most search sites
  const typing = ["INPUT", "SELECT", "TEXTAREA"].includes(document.activeElement?.tagName);
  if (event.key === "/" && !typing && !event.ctrlKey && !event.metaKey && !event.altKey) {
    event.preventDefault();
    input.focus();
    input.select();
  }
});
document.addEventListener("paste", (event) => {
  const item = [...(event.clipboardData?.items || [])].find((entry) => entry.type.startsWith("image/"));
  if (item) {
    event.preventDefault();
    searchWithImage(item.getAsFile());
  }
});
let dragDepth = 0;
document.addEventListener("dragenter", (event) => {
  if (![...event.dataTransfer.types].includes("Files")) return;
  dragDepth += 1;
  overlay.hidden = false;
});
document.addEventListener("dragleave", () => {
  dragDepth = Math.max(0, dragDepth - 1);
  if (!dragDepth) overlay.hidden = true;
});
document.addEventListener("dragover", (event) => event.preventDefault());
document.addEventListener("drop", (event) => {
  event.preventDefault();
  dragDepth = 0;
  overlay.hidden = true;
  searchWithImage(event.dataTransfer.files[0]);
});
new IntersectionObserver((entries) => {
  if (entries.some((entry) => entry.isIntersecting) && !moreButton.hidden) loadMore();
}, { rootMargin: "600px" }).observe(document.getElementById("more"));

run(readState());
