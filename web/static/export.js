// Exports from a page's "Export as" form. A selection's or a concept's form has an address and downloads as it
// streams; search results and map areas have none, so `what()` gives {ids: [...]} or {area: polygon} (and, for an
// area, {count}) to post, and the answer is saved as a download. An export of more images than the form's
// data-at-once runs in the background instead: progress, Cancel, and the file downloaded when done.
import { apiGet, apiSend, csrfToken, showMessage } from "./api.js";

export function exportForm(form, what = null) {
  const note = form.querySelector(".export-status");
  const atOnce = Number(form.dataset.atOnce || Infinity);
  form.addEventListener("submit", (event) => {
    const chosen = what ? what() : JSON.parse(form.dataset.source || "{}");
    const count = what ? chosen.count ?? chosen.ids?.length ?? 0 : Number(form.dataset.count || 0);
    delete chosen.count;
    if (count > atOnce) {
      event.preventDefault();
      inBackground(form, note, chosen).catch((error) => showMessage(note, error.message, { error: true }));
    } else if (what) {
      event.preventDefault();
      if (chosen.ids && !chosen.ids.length) return;
      download(form, note, chosen).catch((error) => showMessage(note, error.message, { error: true }));
    } // else the browser follows the form's address and downloads the answer as it streams
  });
}

async function download(form, note, chosen) {
  note.textContent = "Preparing the export…";
  note.classList.remove("error-message");
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
}

async function inBackground(form, note, source) {
  let run = await apiSend("POST", "/api/exports", { ...source, format: form.elements.format.value });
  const bar = document.createElement("progress");
  bar.max = 1;
  const text = document.createElement("span");
  const cancel = document.createElement("button");
  cancel.type = "button";
  cancel.className = "button secondary";
  cancel.textContent = "Cancel";
  cancel.addEventListener("click", () => apiSend("DELETE", run.url).catch(() => {}));
  note.classList.remove("error-message");
  note.replaceChildren(bar, " ", text, " ", cancel);
  while (run.state === "running") {
    bar.value = run.total ? run.written / run.total : 0;
    text.textContent = `Exporting ${run.images ? `${run.images.toLocaleString()} images` : "…"} ` +
      `(${(run.written / 1e6).toFixed(0)}${run.total ? ` of ${(run.total / 1e6).toFixed(0)}` : ""} MB)`;
    await new Promise((done) => { setTimeout(done, 1000); });
    run = await apiGet(run.url);
  }
  if (run.state !== "done") {
    showMessage(note, run.state === "cancelled" ? "Export cancelled." : `The export failed: ${run.error}`,
      { error: run.state !== "cancelled" });
    return;
  }
  const link = document.createElement("a");
  link.href = run.file_url;
  link.textContent = `Download ${run.filename} (${(run.total / 1e6).toFixed(0)} MB, ${run.images.toLocaleString()} ` +
    "images)";
  note.replaceChildren(link, " · kept a day");
  link.click();
}
