// The selections page: making a new selection (or a saved search), then going to it.
import { apiSend, showMessage } from "./api.js";

const form = document.getElementById("new-selection");
form?.addEventListener("submit", async (event) => {
  event.preventDefault();
  const name = form.elements.name.value.trim();
  const words = form.elements.q.value.trim();
  try {
    const made = await apiSend("POST", "/api/selections", { name, query: words ? { q: words } : null });
    window.location.href = made.url;
  } catch (error) {
    showMessage(document.getElementById("selection-error"), error.message, { error: true });
  }
});
