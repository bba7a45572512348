// Result tiles and the results a search page left, shared by the pages that show images.

// The results a search page had loaded when it was left ({key: its query string, images, nextOffset, ...}), kept
// for the tab's session: Back restores them, and an image page opened from them offers previous / next.
export const SAVED_RESULTS = "pixcept-search";

export function savedResults() {
  try {
    return JSON.parse(sessionStorage.getItem(SAVED_RESULTS) || "null");
  } catch {
    return null;
  }
}

// Long names keep their distinctive end (IMG_2024…_0042.jpg), which plain ellipsis cuts off.
function shortName(name, room = 26) {
  return name.length <= room ? name : `${name.slice(0, room - 13)}…${name.slice(-12)}`;
}

export function resultTile(image, { onMoreLikeThis, onOpen } = {}) {
  const item = document.createElement("li");
  item.className = "result";
  item.dataset.id = image.id;
  const link = document.createElement("a");
  link.href = image.page_url;
  link.className = "result-link";
  const img = document.createElement("img");
  img.src = image.thumbnail_url;
  img.alt = image.name;
  img.loading = "lazy";
  img.decoding = "async";
  link.append(img);
  if (onOpen) { // a plain click opens it over the results; a new tab or window still gets its page
    link.addEventListener("click", (event) => {
      if (event.button !== 0 || event.ctrlKey || event.metaKey || event.shiftKey || event.altKey) return;
      event.preventDefault();
      onOpen(image);
    });
  }
  const caption = document.createElement("div");
  caption.className = "result-caption";
  const name = document.createElement("span");
  name.className = "result-name";
  name.textContent = shortName(image.name);
  name.dataset.name = image.name;
  name.title = image.path;
  caption.append(name);
  if (image.example) { // one of the query's own examples: part of the set, shown first
    item.classList.add("example");
    const mark = document.createElement("span");
    mark.className = "result-example";
    mark.textContent = "Example";
    caption.prepend(mark);
    img.alt = `${image.name} (an example of this search)`;
  }
  if (image.score !== null && image.score !== undefined) {
    const score = document.createElement("span");
    score.className = "result-score";
    score.textContent = image.score.toFixed(3);
    score.title = "Similarity to the query (cosine)";
    caption.append(score);
  }
  item.append(link, caption);
  if (image.concept && image.concept.id >= 0) { // shown on hover and focus
    const concept = document.createElement("a");
    concept.className = "result-concept";
    concept.href = `/concepts/${image.concept.id}`;
    concept.textContent = image.concept.title;
    concept.setAttribute("aria-label", `Concept of ${image.name}: ${image.concept.title}`);
    item.append(concept);
  }
  if (onMoreLikeThis) {
    const more = document.createElement("button");
    more.type = "button";
    more.className = "more-like-this";
    more.textContent = "More like this";
    more.setAttribute("aria-label", `More like ${image.name}`);
    more.addEventListener("click", () => onMoreLikeThis(image));
    item.append(more);
  }
  return item;
}
