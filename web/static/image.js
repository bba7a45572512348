// The image page: its place in the results it was opened from (previous / next / back, the query in the search
// box), and the "Similar images" strip.
import { apiGet, showMessage } from "./api.js";
import { resultTile, savedResults } from "./results.js";

const list = document.getElementById("results");
const status = document.getElementById("status");

// Opened from a search (the search page saved its loaded results on leaving): previous, next and back to them.
function showPlaceInResults() {
  const saved = savedResults();
  const at = saved ? saved.images.findIndex((image) => image.id === list.dataset.like) : -1;
  if (at < 0) return;
  const nav = document.getElementById("result-nav");
  const query = new URLSearchParams(saved.key);
  document.getElementById("back-to-results").href = `/?${query}`;
  document.getElementById("result-position").textContent = `${at + 1} of ${saved.images.length}` +
    (saved.nextOffset === null ? "" : "+");
  for (const [id, word, neighbour] of [["previous-result", "Previous", saved.images[at - 1]],
    ["next-result", "Next", saved.images[at + 1]]]) {
    const link = document.getElementById(id);
    link.hidden = !neighbour;
    if (neighbour) {
      link.href = neighbour.page_url;
      link.setAttribute("aria-label", `${word} result: ${neighbour.name}`);
    }
  }
  const box = document.getElementById("q");
  if (box && !box.value) box.value = query.get("q") || "";
  nav.hidden = false;
  document.addEventListener("keydown", (event) => { // arrows step through the results, as in the lightbox
    if (["INPUT", "SELECT", "TEXTAREA"].includes(document.activeElement?.tagName) || event.altKey ||
        event.ctrlKey || event.metaKey) return;
    const link = document.getElementById({ ArrowLeft: "previous-result", ArrowRight: "next-result" }[event.key]);
    if (link && !link.hidden) link.click();
  });
}

// The area the image was opened from is the current one in the top bar, and the way back to it is offered.
function markOrigin() {
  const from = document.referrer ? new URL(document.referrer) : null;
  const fromMap = from && from.origin === location.origin && from.pathname === "/map";
  const area = fromMap ? "/map" : (document.getElementById("result-nav").hidden ? null : "/");
  if (fromMap) {
    const back = document.getElementById("back-to-map");
    back.href = from.pathname + from.search;
    // going back restores the map as it was left (camera, selection); the link is for a new tab
    back.addEventListener("click", (event) => {
      if (event.button === 0 && !event.ctrlKey && !event.metaKey && !event.shiftKey) {
        event.preventDefault();
        history.back();
      }
    });
    document.getElementById("map-nav").hidden = false;
  }
  for (const link of document.querySelectorAll(".nav a")) {
    if (area && new URL(link.href).pathname === area) link.setAttribute("aria-current", "page");
  }
}

showPlaceInResults();
markOrigin();
const params = new URLSearchParams({ like: list.dataset.like, limit: "24" });
try {
  const page = await apiGet(`/api/search?${params}`);
  const similar = page.results.filter((image) => !image.example); // this image itself leads its own set
  list.replaceChildren(...similar.map((image) => resultTile(image)));
  status.textContent = similar.length ? "" : "No similar images.";
} catch (error) {
  showMessage(status, error.message, { error: true });
}
