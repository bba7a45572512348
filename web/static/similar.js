// The image page's "Similar images" strip.
import { apiGet, resultTile, showMessage } from "./results.js";

const list = document.getElementById("results");
const status = document.getElementById("status");
const params = new URLSearchParams({ like: list.dataset.like, limit: "24" });
try {
  const page = await apiGet(`/api/search?${params}`);
  list.replaceChildren(...page.results.map((image) => resultTile(image)));
  status.textContent = page.results.length ? "" : "No similar images.";
} catch (error) {
  showMessage(status, error.message, { error: true });
}
