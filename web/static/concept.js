// A concept's page: its images, page after page as you scroll (same tiles as search results, selected as there),
// kept in a selection whole or the selected ones.
import { apiGet, showMessage } from "./api.js";
import { exportForm } from "./export.js";
import { keepBar } from "./keep.js";
import { resultTile } from "./results.js";
import { tileGrid } from "./tilegrid.js";

const PAGE_SIZE = 60;
const list = document.getElementById("results");
const status = document.getElementById("status");
const moreButton = document.getElementById("more-button");
let nextOffset = 0;
let loading = false;

async function loadMore() {
  if (loading || nextOffset === null) return;
  loading = true;
  try {
    const params = new URLSearchParams({ offset: nextOffset, limit: PAGE_SIZE });
    const page = await apiGet(`/api/concepts/${list.dataset.concept}?${params}`);
    list.append(...page.members.map(memberTile));
    nextOffset = page.next_offset;
    moreButton.hidden = nextOffset === null;
    status.textContent = `${list.children.length} of ${page.members_total.toLocaleString()} images shown`;
  } catch (error) {
    showMessage(status, error.message, { error: true });
  } finally {
    loading = false;
  }
}

// Images in no concept get a suggestion: the concept each is most similar to.
function memberTile(image) {
  const tile = resultTile(image);
  if (image.nearest_concept) {
    const hint = document.createElement("a");
    hint.className = "nearest-concept";
    hint.href = `/concepts/${image.nearest_concept.id}`;
    hint.textContent = `Nearest: ${image.nearest_concept.title} (${image.nearest_concept.score.toFixed(2)})`;
    tile.append(hint);
  }
  return tile;
}

moreButton.addEventListener("click", loadMore);
new IntersectionObserver((entries) => {
  if (entries.some((entry) => entry.isIntersecting)) loadMore();
}, { rootMargin: "600px" }).observe(document.getElementById("more"));

// the selected images when any are (tilegrid.js), else the whole concept
const keep = document.getElementById("keep-bar");
const keepLabel = keep.querySelector("label");
const wholeConcept = keepLabel.textContent;
const grid = tileGrid(list, {
  onChange: (ids) => { keepLabel.textContent = ids.length ? `Keep the ${ids.length} selected in` : wholeConcept; },
});
exportForm(document.querySelector(".export-form"));
keepBar(keep, () => {
  const ids = grid.ids();
  return ids.length ? { ids } : { concept: Number(list.dataset.concept) };
});
