// Keeping what a page shows: "Add the N images shown to <selection>", or a new selection made from them.
// Used by the search page; the selection's own page gathers more.
import { apiGet, apiSend, showMessage } from "./api.js";

export function keepBar(bar, shownIds) {
  const choice = bar.querySelector("select");
  const button = bar.querySelector("button");
  const note = bar.querySelector(".keep-status");
  apiGet("/api/selections").then(({ selections }) => {
    const options = selections.map((s) => new Option(`${s.name} (${s.accepted})`, s.name));
    choice.replaceChildren(new Option("a new selection…", ""), ...options);
    if (options.length) choice.value = options[0].value;
  }).catch(() => { bar.hidden = true; });
  button.addEventListener("click", async () => {
    const ids = shownIds();
    if (!ids.length) return;
    try {
      let name = choice.value;
      if (!name) {
        name = window.prompt("Name of the new selection:");
        if (!name) return;
        await apiSend("POST", "/api/selections", { name });
        choice.append(new Option(name, name));
        choice.value = name;
      }
      const kept = await apiSend("POST", `/api/selections/${encodeURIComponent(name)}/images`,
        { ids, state: "accepted" });
      note.replaceChildren(`${ids.length} added; “${name}” holds ${kept.accepted}. `);
      const link = document.createElement("a");
      link.href = kept.url;
      link.textContent = "Gather more like these";
      note.append(link);
      note.classList.remove("error-message");
    } catch (error) {
      showMessage(note, error.message, { error: true });
    }
  });
}
