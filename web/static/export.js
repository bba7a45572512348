// Exporting what a page shows when no address names it (a search's results, an area of the map): `what()` gives
// {ids: [...]} or {area: polygon}, which is posted, and the answer saved as a download. Pages whose export has an
// address (a selection, a concept) submit the form itself.
import { csrfToken, showMessage } from "./api.js";

export function exportForm(form, what) {
  const note = form.querySelector(".export-status");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const chosen = what();
    if (chosen.ids && !chosen.ids.length) return;
    note.textContent = "Preparing the export…";
    note.classList.remove("error-message");
    try {
      const response = await fetch("/api/images/export", {
        method: "POST",
        headers: { Accept: "application/json", "Content-Type": "application/json", "X-CSRF-Token": csrfToken() },
        body: JSON.stringify({ ...chosen, format: form.elements.format.value }),
      });
      if (!response.ok) {
        const answer = await response.json().catch(() => ({}));
        throw new Error(answer.error?.message || `The server answered ${response.status}.`);
      }
      const name = /filename="([^"]+)"/.exec(response.headers.get("Content-Disposition") || "")?.[1] || "export";
      const link = document.createElement("a");
      link.href = URL.createObjectURL(await response.blob());
      link.download = name;
      link.click();
      setTimeout(() => URL.revokeObjectURL(link.href), 60_000);
      const count = Number(response.headers.get("X-Pixcept-Images") || 0);
      note.textContent = `${count.toLocaleString()} images exported to ${name}.`;
    } catch (error) {
      showMessage(note, error.message, { error: true });
    }
  });
}
