// The concepts grid: typing narrows it to the concepts that match the words (text -> concept search in the API,
// with its relevance cutoff), best first; the sort and the filter live in the URL.
import { apiGet, showMessage } from "./api.js";

const input = document.getElementById("concept-filter");
const sort = document.getElementById("concept-sort");
const grid = document.getElementById("concept-grid");
const status = document.getElementById("concept-status");
const cards = [...grid.querySelectorAll(".concept-card")];
const groups = [...grid.querySelectorAll(".concept-group")];
const allStatus = status.textContent;
let generation = 0;
let timer = null;

function showAll() {
  for (const card of cards) card.hidden = false;
  for (const group of groups) group.hidden = false;
  status.textContent = allStatus;
}

function showOnly(matches) {
  const ids = new Set(matches.map((concept) => String(concept.id)));
  for (const card of cards) card.hidden = !ids.has(card.dataset.id);
  for (const group of groups) group.hidden = !group.querySelector(".concept-card:not([hidden])");
  const names = matches.map((concept) => concept.title).join("; ");
  status.textContent = matches.length
    ? `${matches.length} ${matches.length === 1 ? "concept matches" : "concepts match"}: ${names}`
    : "No concept matches these words: the library holds nothing like them, or the model does not know them.";
}

async function filter(words) {
  const mine = ++generation;
  const url = new URL(window.location.href);
  if (words) url.searchParams.set("q", words); else url.searchParams.delete("q");
  history.replaceState(null, "", url);
  if (!words) return showAll();
  try {
    const answer = await apiGet(`/api/concepts/search?${new URLSearchParams({ q: words, limit: "100" })}`);
    if (mine === generation) showOnly(answer.no_good_match ? [] : answer.concepts);
  } catch (error) {
    if (mine === generation) showMessage(status, error.message, { error: true });
  }
}

input.form.addEventListener("submit", (event) => { // without this script the form reloads the page, filtered
  event.preventDefault();
  filter(input.value.trim());
});
input.addEventListener("input", () => {
  clearTimeout(timer);
  timer = setTimeout(() => filter(input.value.trim()), 200);
});
sort.addEventListener("change", () => input.form.submit());
if (input.value.trim()) filter(input.value.trim());
