// The lightbox: a result opened over the results (a modal <dialog>), with previous/next by arrow keys, buttons or a
// swipe, Escape or Back to close, and its facts, concept, "more like this" and (where the page selects results) a
// Select toggle. The page that opens it owns the URL.

export function createLightbox({ onMoreLikeThis, onAddExample, onNotLike, onClose, onMove, selection = null }) {
  const dialog = document.createElement("dialog");
  dialog.className = "lightbox";
  dialog.setAttribute("aria-labelledby", "lightbox-title");
  dialog.innerHTML = `
    <div class="lightbox-bar">
      <h2 id="lightbox-title" class="lightbox-title"></h2>
      <span class="lightbox-position" aria-live="polite"></span>
      <button type="button" class="button secondary" data-action="close" aria-label="Close (Escape)">×</button>
    </div>
    <div class="lightbox-body">
      <button type="button" class="lightbox-step" data-action="previous" aria-label="Previous (left arrow)">‹</button>
      <figure class="lightbox-figure"><img alt=""></figure>
      <button type="button" class="lightbox-step" data-action="next" aria-label="Next (right arrow)">›</button>
    </div>
    <div class="lightbox-facts">
      <p class="lightbox-meta"></p>
      <p class="lightbox-actions">
        <a class="lightbox-concept"></a>
        <button type="button" class="button secondary" data-action="select" aria-pressed="false" hidden>Select</button>
        <button type="button" class="button secondary" data-action="more">More like this</button>
        <button type="button" class="button secondary" data-action="example">Add as example</button>
        <button type="button" class="button secondary" data-action="unlike">Not like this</button>
        <a class="button secondary lightbox-page">Open its page</a>
      </p>
    </div>`;
  document.body.append(dialog);
  const queryActions = { more: onMoreLikeThis, example: onAddExample, unlike: onNotLike };
  // selection: {has(id), toggleId(id)}, the page's selected results (the keep and export bars act on them)
  const selectButton = dialog.querySelector('[data-action="select"]');
  selectButton.hidden = !selection;
  const img = dialog.querySelector("img");
  img.draggable = false; // a swipe, not a drag of the picture
  let images = [];
  let closedForQuery = false;
  let index = -1;

  function show(at) {
    index = at;
    const image = images[index];
    dialog.querySelector(".lightbox-title").textContent = image.name;
    dialog.querySelector(".lightbox-position").textContent = `${index + 1} of ${images.length}`;
    img.src = image.preview_url;
    img.alt = image.name;
    const facts = [image.taken && `Taken ${image.taken}`, image.camera,
      image.width && `${image.width} × ${image.height} px`, image.score != null && `score ${image.score.toFixed(3)}`];
    dialog.querySelector(".lightbox-meta").textContent = [...facts.filter(Boolean), image.path].join(" · ");
    const concept = dialog.querySelector(".lightbox-concept");
    concept.hidden = !(image.concept && image.concept.id >= 0);
    if (!concept.hidden) {
      concept.href = `/concepts/${image.concept.id}`;
      concept.textContent = `Concept: ${image.concept.title}`;
    }
    dialog.querySelector(".lightbox-page").href = image.page_url;
    if (selection) showSelected(image);
    dialog.querySelector('[data-action="previous"]').disabled = index === 0;
    dialog.querySelector('[data-action="next"]').disabled = index === images.length - 1;
  }

  function showSelected(image) {
    const on = selection.has(image.id);
    selectButton.setAttribute("aria-pressed", String(on));
    selectButton.textContent = on ? "Selected" : "Select";
  }

  function step(by) {
    const at = index + by;
    if (at < 0 || at >= images.length) return;
    show(at);
    onMove(images[at], at);
  }

  dialog.addEventListener("click", (event) => {
    const action = event.target.closest("[data-action]")?.dataset.action;
    if (action === "close" || event.target === dialog) dialog.close();
    else if (action === "previous") step(-1);
    else if (action === "next") step(1);
    else if (action === "select") {
      selection.toggleId(images[index].id);
      showSelected(images[index]);
    } else if (action in queryActions) {
      const image = images[index];
      closedForQuery = true;
      dialog.close();
      queryActions[action](image);
    }
  });
  dialog.addEventListener("keydown", (event) => {
    if (event.key === "ArrowLeft") step(-1);
    else if (event.key === "ArrowRight") step(1);
  });
  let swipeFrom = null;
  img.addEventListener("pointerdown", (event) => { swipeFrom = event.clientX; });
  img.addEventListener("pointerup", (event) => {
    if (swipeFrom !== null && Math.abs(event.clientX - swipeFrom) > 50) step(event.clientX < swipeFrom ? 1 : -1);
    swipeFrom = null;
  });
  dialog.addEventListener("close", () => {
    onClose({ forQuery: closedForQuery }); // closed to start another query: the page moves on, not back
    closedForQuery = false;
  });

  return {
    open(list, at) {
      images = list;
      show(at);
      if (!dialog.open) dialog.showModal();
    },
    close() {
      if (dialog.open) dialog.close();
    },
    get isOpen() {
      return dialog.open;
    },
    get current() {
      return images[index];
    },
  };
}
