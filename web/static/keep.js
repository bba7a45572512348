// Keeping what a page shows in a selection (an existing one, or a new one named here), or taking it out of one:
// the search page's results, a concept's images, an area of the map. `what()` says which: {ids: [...]},
// {concept: ID} or {area: polygon}. The selection's own page gathers more.
import { apiGet, apiSend, showMessage } from "./api.js";

export function keepBar(bar, what) {
  const choice = bar.querySelector("select");
  const note = bar.querySelector(".keep-status");
  apiGet("/api/selections").then(({ selections }) => {
    const options = selections.map((s) => new Option(`${s.name} (${s.accepted})`, s.name));
    choice.replaceChildren(new Option("a new selection…", ""), ...options);
    if (options.length) choice.value = options[0].value;
  }).catch(() => { bar.hidden = true; });
  for (const button of bar.querySelectorAll("[data-keep]")) {
    button.addEventListener("click", () => change(button.dataset.keep || null));
  }

  async function change(state) { // "accepted" adds, null takes out
    const body = what();
    if (body.ids && !body.ids.length) return;
    try {
      let name = choice.value;
      if (!name && !state) {
        showMessage(note, "Choose the selection to take them out of.", { error: true });
        return;
      }
      if (!name) {
        name = window.prompt("Name of the new selection:");
        if (!name) return;
        await apiSend("POST", "/api/selections", { name });
        choice.append(new Option(name, name));
        choice.value = name;
      }
      const kept = await apiSend("POST", `/api/selections/${encodeURIComponent(name)}/images`, { ...body, state });
      note.replaceChildren(`${state ? "Added" : "Taken out"}; “${name}” holds ${kept.accepted.toLocaleString()}. `);
      const link = document.createElement("a");
      link.href = kept.url;
      link.textContent = "Gather more like these";
      note.append(link);
      note.classList.remove("error-message");
    } catch (error) {
      showMessage(note, error.message, { error: true });
    }
  }
}
