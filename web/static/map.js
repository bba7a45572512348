// The concept map: every image a WebGL point (regl-scatterplot) at its place in the run's 2-D layout, coloured by
// concept; labels at concept centres in levels (groups zoomed out, concepts, then montages zoomed in); hover shows a
// thumbnail, a click shows the image, box and lasso select list the images; "Fly to" zooms to the best concept.
import createScatterplot from "./vendor/regl-scatterplot/regl-scatterplot.js";
import { apiGet, showMessage } from "./api.js";
import { exportForm } from "./export.js";
import { keepBar } from "./keep.js";
import { resultTile } from "./results.js";

const SHOWN_SELECTED = 200;
const frame = document.getElementById("map-frame");
const canvas = document.getElementById("map-canvas");
const labels = document.getElementById("map-labels");
const box = document.getElementById("box");
const hoverCard = document.getElementById("hover-card");
const status = document.getElementById("map-status");
const summaryLine = document.getElementById("selection-summary");
const selectionConcepts = document.getElementById("selection-concepts");
const selectionList = document.getElementById("selection");
const boxButton = document.getElementById("box-mode");
const lassoButton = document.getElementById("lasso-mode");
const keep = document.getElementById("keep-bar");

// A linear scale with the parts of d3's interface regl-scatterplot uses: it keeps the domain on the visible area.
function linearScale(domain = [-1, 1], range = [0, 1]) {
  let d = [...domain];
  let r = [...range];
  const scale = (v) => r[0] + ((v - d[0]) / (d[1] - d[0])) * (r[1] - r[0]);
  scale.domain = (next) => (next ? ((d = [...next]), scale) : d);
  scale.range = (next) => (next ? ((r = [...next]), scale) : r);
  scale.invert = (p) => d[0] + ((p - r[0]) / (r[1] - r[0])) * (d[1] - d[0]);
  scale.copy = () => linearScale(d, r);
  return scale;
}

// Distinct colours: hues a golden angle apart, alternating lightness; grey for images in no concept.
function palette(count) {
  const colours = [];
  for (let i = 0; i < count; i += 1) {
    colours.push(`hsl(${Math.round((i * 137.508) % 360)} 70% ${i % 2 ? 42 : 55}%)`);
  }
  return colours.map(toHex).concat(["#9ca3af"]);
}

function toHex(css) {
  const probe = document.createElement("canvas").getContext("2d");
  probe.fillStyle = css;
  return probe.fillStyle; // the browser normalises any colour to #rrggbb
}

const started = performance.now();
const [summary, buffer] = await Promise.all([
  apiGet("/api/map"),
  fetch("/api/map/points").then((response) => {
    if (!response.ok) throw new Error(`The map's points could not be loaded (${response.status}).`);
    return response.arrayBuffer();
  }),
]).catch((error) => {
  showMessage(status, error.message, { error: true });
  throw error;
});
const count = summary.count;
const x = new Float32Array(buffer, 0, count);
const y = new Float32Array(buffer, count * 4, count);
const conceptOf = new Int32Array(buffer, count * 8, count);
const categoryOf = new Map(summary.concepts.map((concept, index) => [concept.id, index]));
const outlierCategory = summary.concepts.length;
const category = new Float32Array(count);
for (let i = 0; i < count; i += 1) category[i] = categoryOf.get(conceptOf[i]) ?? outlierCategory;
const titles = new Map(summary.concepts.map((concept) => [concept.id, concept.title]));

const xScale = linearScale();
const yScale = linearScale();
let { width, height } = frame.getBoundingClientRect();
const pointSize = count > 300_000 ? 1 : count > 50_000 ? 2 : count > 5_000 ? 3 : 5;
const dark = matchMedia("(prefers-color-scheme: dark)").matches;
// Many points: squares without alpha blending (regl-scatterplot's performance mode), far cheaper to fill, above all
// where WebGL runs in software.
const performanceMode = count > 50_000;
const scatterplot = createScatterplot({
  canvas, width, height, xScale, yScale, pointSize, pointSizeSelected: pointSize + 2, pointOutlineWidth: 1,
  performanceMode, colorBy: "valueA", pointColor: palette(summary.concepts.length),
  opacity: performanceMode ? 1 : 0.9,
  backgroundColor: dark ? "#1c1917" : "#fafaf9", lassoColor: "#f59e0b", actionKeyMap: { shift: "lasso" },
  // no long-press lasso: its indicator writes a <style> element, which the pages' CSP refuses (and the library
  // then fails reading it); touch users have the Lasso button
  lassoOnLongPress: false, lassoInitiator: false,
});
await scatterplot.draw({ x, y, valueA: category }, { zDataType: "categorical" });
// The whole map in view, whatever the frame's shape: the default view fits the height, and a phone's tall, narrow
// frame then cuts the sides off.
const WHOLE_MAP = { x: -1.05, y: -1.05, width: 2.1, height: 2.1 };
const showWholeMap = (transition = false) => scatterplot.zoomToArea(WHOLE_MAP, { transition });
await showWholeMap();
const drawnMs = performance.now();
status.textContent = `${count.toLocaleString()} images in ${summary.concepts.length} concepts (run ${summary.run}); ` +
  `drawn in ${((drawnMs - started) / 1000).toFixed(2)} s.`;

// -- labels in levels ---------------------------------------------------------------------------------------------

let initialSpan = null;
let labelFrame = 0;
const labelPlaces = {
  groups: summary.groups.filter((group) => !summary.groups.some((other) => other.id === group.parent)),
  concepts: summary.concepts,
};
const grouped = new Set(labelPlaces.groups.flatMap((group) => group.concepts));

function zoomRatio() {
  const span = xScale.domain()[1] - xScale.domain()[0];
  initialSpan ??= span;
  return initialSpan / span;
}

function drawLabels() {
  labelFrame = 0;
  const ratio = zoomRatio();
  const broad = ratio < 1.8 && labelPlaces.groups.length > 0;
  const places = broad
    ? [...labelPlaces.groups, ...labelPlaces.concepts.filter((concept) => !grouped.has(concept.id))]
    : labelPlaces.concepts;
  const withMontage = ratio >= 5;
  const taken = [];
  const nodes = [];
  for (const place of [...places].sort((a, b) => b.size - a.size)) {
    const left = xScale(place.x);
    const top = yScale(place.y);
    if (left < -50 || top < -50 || left > width + 50 || top > height + 50) continue;
    const w = Math.min(220, place.title.length * 7 + 16);
    const h = withMontage && !place.concepts ? 92 : 24;
    const rect = [left - w / 2, top - h / 2, left + w / 2, top + h / 2];
    if (taken.some((o) => rect[0] < o[2] && rect[2] > o[0] && rect[1] < o[3] && rect[3] > o[1])) continue;
    taken.push(rect);
    nodes.push(labelNode(place, left, top, withMontage && !place.concepts));
  }
  labels.replaceChildren(...nodes);
}

function labelNode(place, left, top, withMontage) {
  const node = document.createElement("div");
  node.className = place.concepts ? "map-label group" : "map-label";
  node.style.left = `${left}px`;
  node.style.top = `${top}px`;
  if (withMontage) {
    const img = document.createElement("img");
    img.src = `/api/concepts/${place.id}/montage`;
    img.alt = "";
    node.append(img);
  }
  const text = document.createElement("span");
  text.textContent = place.title;
  node.append(text);
  return node;
}

// Level of detail: while the view moves, a large map draws a fixed, even sample of its points (software WebGL draws
// about a million points a second); the whole map returns as soon as it rests.
const MOVING_SAMPLE = 10_000;
let selected = []; // point indices; a selection is drawn whole, never sampled
const sample = count > 2 * MOVING_SAMPLE ? evenSample(count, MOVING_SAMPLE) : null;
let resting = null;
function evenSample(total, size) {
  const step = total / size;
  return Array.from({ length: size }, (_, i) => Math.floor(i * step));
}

scatterplot.subscribe("view", () => {
  labelFrame ||= requestAnimationFrame(drawLabels);
  if (!sample) return;
  if (resting === null && !selected.length) scatterplot.filter(sample, { preventEvent: true });
  clearTimeout(resting);
  resting = setTimeout(() => {
    resting = null;
    if (!selected.length) scatterplot.unfilter({ preventEvent: true });
  }, 250);
});
drawLabels();

// -- hover, click, selections -------------------------------------------------------------------------------------

let pointer = [0, 0];
let hovered = null;
frame.addEventListener("pointermove", (event) => {
  const rect = frame.getBoundingClientRect();
  pointer = [event.clientX - rect.left, event.clientY - rect.top];
  if (!hoverCard.hidden) placeHoverCard();
});

function placeHoverCard() {
  hoverCard.style.left = `${Math.min(pointer[0] + 14, width - 150)}px`;
  hoverCard.style.top = `${Math.min(pointer[1] + 14, height - 170)}px`;
}

scatterplot.subscribe("pointOver", async (index) => {
  hovered = index;
  const [image] = (await apiGet(`/api/map/images?index=${index}`)).images;
  if (hovered !== index || !image) return;
  hoverCard.querySelector("img").src = image.thumbnail_url;
  hoverCard.querySelector("span").textContent = `${image.name} · ${titles.get(conceptOf[index]) ?? "Unsorted"}`;
  hoverCard.hidden = false;
  placeHoverCard();
});
scatterplot.subscribe("pointOut", () => {
  hovered = null;
  hoverCard.hidden = true;
});

// An area (a box or a lasso, in map coordinates) is what the selection keeps and exports, and what the URL holds,
// so Back and a shared link select it again; a click selects one point, which is no area.
let area = null;
let drawnArea = null; // the polygon of the selection about to be announced
scatterplot.subscribe("lassoEnd", ({ coordinates }) => { drawnArea = coordinates; });
scatterplot.subscribe("select", ({ points }) => {
  area = drawnArea;
  drawnArea = null;
  showArea();
  showSelection([...points]);
});
scatterplot.subscribe("deselect", () => {
  area = null;
  showArea();
  showSelection([]);
});
keepBar(keep, () => ({ area }));
exportForm(keep.querySelector(".export-form"), () => ({ area, count: selected.length }));

function showArea() {
  keep.hidden = !area;
  const url = new URL(window.location.href);
  if (area) url.searchParams.set("area", area.flat().map((v) => v.toFixed(4)).join(","));
  else url.searchParams.delete("area");
  history.replaceState(null, "", url);
}

function selectArea(polygon) {
  drawnArea = polygon;
  scatterplot.lassoSelect(polygon, { isGl: true });
}

const shared = (new URLSearchParams(window.location.search).get("area") || "").split(",").map(Number);
if (shared.length >= 6 && shared.length % 2 === 0 && shared.every(Number.isFinite)) {
  selectArea(Array.from({ length: shared.length / 2 }, (_, i) => [shared[2 * i], shared[2 * i + 1]]));
}

async function showSelection(points) {
  selected = points;
  const byConcept = new Map();
  for (const index of points) byConcept.set(conceptOf[index], (byConcept.get(conceptOf[index]) ?? 0) + 1);
  summaryLine.textContent = points.length
    ? `${points.length.toLocaleString()} ${points.length === 1 ? "image" : "images"} selected` +
      (points.length > SHOWN_SELECTED ? ` (the first ${SHOWN_SELECTED} shown)` : "")
    : "Nothing selected.";
  selectionConcepts.replaceChildren(...[...byConcept].sort((a, b) => b[1] - a[1]).map(([concept, n]) => {
    const item = document.createElement("li");
    const link = document.createElement("a");
    link.href = `/concepts/${concept}`;
    link.textContent = titles.get(concept) ?? "Unsorted";
    const size = document.createElement("span");
    size.className = "label-score";
    size.textContent = ` ${n}`;
    item.append(link, size);
    return item;
  }));
  const shown = points.slice(0, SHOWN_SELECTED);
  const params = new URLSearchParams(shown.map((index) => ["index", String(index)]));
  const answer = shown.length ? await apiGet(`/api/map/images?${params}`) : { images: [] };
  if (selected !== points) return;
  selectionList.replaceChildren(...answer.images.map((image) => resultTile(image)));
  window.pixceptMap.selectedImages = answer.images;
}

// Box select: a rectangle dragged on the map, turned into map coordinates and selected as a polygon.
let boxStart = null;
function setMode(mode) {
  boxButton.setAttribute("aria-pressed", String(mode === "box"));
  lassoButton.setAttribute("aria-pressed", String(mode === "lasso"));
  scatterplot.set({ mouseMode: mode === "lasso" ? "lasso" : "panZoom" });
  frame.classList.toggle("boxing", mode === "box");
}
const mode = () => (boxButton.getAttribute("aria-pressed") === "true" ? "box"
  : lassoButton.getAttribute("aria-pressed") === "true" ? "lasso" : "pan");
boxButton.addEventListener("click", () => setMode(mode() === "box" ? "pan" : "box"));
lassoButton.addEventListener("click", () => setMode(mode() === "lasso" ? "pan" : "lasso"));
document.getElementById("reset-view").addEventListener("click", () => showWholeMap(true));

frame.addEventListener("pointerdown", (event) => {
  if (mode() !== "box") return;
  event.preventDefault();
  event.stopPropagation();
  frame.setPointerCapture(event.pointerId);
  const rect = frame.getBoundingClientRect();
  boxStart = [event.clientX - rect.left, event.clientY - rect.top];
  drawBox(boxStart);
  box.hidden = false;
}, { capture: true });
frame.addEventListener("pointermove", () => { if (boxStart) drawBox(pointer); });
frame.addEventListener("pointerup", (event) => {
  if (!boxStart) return;
  const rect = frame.getBoundingClientRect();
  const end = [event.clientX - rect.left, event.clientY - rect.top];
  const [x0, x1] = [xScale.invert(boxStart[0]), xScale.invert(end[0])];
  const [y0, y1] = [yScale.invert(boxStart[1]), yScale.invert(end[1])];
  boxStart = null;
  box.hidden = true;
  if (Math.abs(x1 - x0) > 1e-6 && Math.abs(y1 - y0) > 1e-6) {
    selectArea([[x0, y0], [x1, y0], [x1, y1], [x0, y1]]);
  }
});

function drawBox(end) {
  box.style.left = `${Math.min(boxStart[0], end[0])}px`;
  box.style.top = `${Math.min(boxStart[1], end[1])}px`;
  box.style.width = `${Math.abs(end[0] - boxStart[0])}px`;
  box.style.height = `${Math.abs(end[1] - boxStart[1])}px`;
}

// Fly to the best concept for some words.
document.getElementById("fly-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const words = document.getElementById("fly").value.trim();
  if (!words) return;
  try {
    const answer = await apiGet(`/api/concepts/search?${new URLSearchParams({ q: words, limit: "1" })}`);
    const [best] = answer.concepts;
    if (answer.no_good_match) { // the camera stays: flying to the closest of nothing would read as an answer
      status.textContent = `No concept matches “${words}”: the library holds nothing like it, or the model does ` +
        "not know the words.";
      return;
    }
    if (!best) {
      status.textContent = `No concept stands out for “${words}”.`;
      return;
    }
    const members = [];
    for (let i = 0; i < count; i += 1) if (conceptOf[i] === best.id) members.push(i);
    status.textContent = `${best.title}: ${best.size.toLocaleString()} images.`;
    if (members.length) await scatterplot.zoomToPoints(members, { transition: true, padding: 0.3 });
  } catch (error) {
    showMessage(status, error.message, { error: true });
  }
});

// The keyboard moves the map when it has focus: arrows pan by a fifth of the view, + and - zoom.
frame.addEventListener("keydown", (event) => {
  const [tx, ty] = scatterplot.get("cameraTarget");
  const distance = scatterplot.get("cameraDistance");
  const step = 0.4 * distance;
  const moves = { ArrowLeft: [[tx - step, ty], distance], ArrowRight: [[tx + step, ty], distance],
    ArrowUp: [[tx, ty + step], distance], ArrowDown: [[tx, ty - step], distance],
    "+": [[tx, ty], distance / 1.5], "=": [[tx, ty], distance / 1.5], "-": [[tx, ty], distance * 1.5] };
  const move = moves[event.key];
  if (!move) return;
  event.preventDefault();
  scatterplot.zoomToLocation(move[0], move[1], { transition: true, transitionDuration: 150 });
});

document.addEventListener("keydown", (event) => {
  if (["INPUT", "SELECT", "TEXTAREA"].includes(document.activeElement?.tagName) || event.ctrlKey || event.metaKey) {
    return;
  }
  const actions = { b: () => setMode(mode() === "box" ? "pan" : "box"),
    l: () => setMode(mode() === "lasso" ? "pan" : "lasso"), 0: () => showWholeMap(true),
    Escape: () => { setMode("pan"); scatterplot.deselect(); } };
  actions[event.key]?.();
});

new ResizeObserver(() => {
  ({ width, height } = frame.getBoundingClientRect());
  scatterplot.set({ width, height });
  labelFrame ||= requestAnimationFrame(drawLabels);
}).observe(frame);

// For tests and the benchmark: what was drawn, when, and where a point is on screen.
window.pixceptMap = {
  count, drawnMs, startedMs: started, scatterplot, selectedImages: [],
  conceptOf, screenOf: (index) => [xScale(x[index]), yScale(y[index])],
};
