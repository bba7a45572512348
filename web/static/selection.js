// One selection: its images (accepted / rejected; selected ones moved to the other state or taken out), gathering
// more like them page by page with accept / reject (keyboard: arrows, a, r, u), and deleting it.
import { apiGet, apiSend, showMessage } from "./api.js";
import { exportForm } from "./export.js";
import { resultTile } from "./results.js";
import { tileGrid } from "./tilegrid.js";

const root = document.getElementById("selection");
const name = root.dataset.name;
const base = `/api/selections/${encodeURIComponent(name)}`;
const results = document.getElementById("results");
const status = document.getElementById("status");
const moreButton = document.getElementById("more-button");
let shownState = "accepted";
let nextOffset = 0;

function showCounts(selection) {
  const counts = document.getElementById("selection-counts");
  counts.textContent = `${selection.accepted.toLocaleString()} accepted · ${selection.rejected.toLocaleString()} ` +
    `rejected · ${selection.seen.toLocaleString()} seen`;
}

async function loadMembers(reset) {
  if (reset) { results.replaceChildren(); nextOffset = 0; }
  try {
    const page = await apiGet(`${base}/images?state=${shownState}&offset=${nextOffset}&limit=60`);
    results.append(...page.images.map((image) => resultTile(image)));
    nextOffset = page.next_offset;
    moreButton.hidden = page.next_offset === null;
    status.textContent = page.total ? `${page.total.toLocaleString()} ${shownState}` : `None ${shownState} yet.`;
  } catch (error) {
    showMessage(status, error.message, { error: true });
  }
}

for (const tab of document.querySelectorAll(".tab")) {
  tab.addEventListener("click", () => {
    for (const other of document.querySelectorAll(".tab")) other.setAttribute("aria-selected", String(other === tab));
    shownState = tab.dataset.state;
    loadMembers(true);
  });
}
moreButton.addEventListener("click", () => loadMembers(false));

// Selected members (tilegrid.js: click, Shift+click, Space) move to the other state or leave the selection.
const memberActions = document.getElementById("member-actions");
const members = tileGrid(results, {
  onChange: (ids) => {
    if (!memberActions) return;
    memberActions.hidden = !ids.length;
    document.getElementById("member-count").textContent = `${ids.length.toLocaleString()} selected:`;
    for (const button of memberActions.querySelectorAll("button")) button.hidden = button.dataset.state === shownState;
  },
});
memberActions?.addEventListener("click", async (event) => {
  const state = event.target.closest("button")?.dataset.state;
  if (state === undefined) return;
  try {
    showCounts(await apiSend("POST", `${base}/images`, { ids: members.ids(), state: state || null }));
    loadMembers(true);
  } catch (error) {
    showMessage(status, error.message, { error: true });
  }
});

// -- gathering ----------------------------------------------------------------------------------------------------

const candidates = document.getElementById("candidates");
const gatherStatus = document.getElementById("gather-status");
const decided = new Map(); // image ID -> "accepted" | "rejected" on this page
let page = [];
let focused = 0;

function drawCurve(scores, threshold) {
  const svg = document.getElementById("gather-curve");
  if (!scores.length) { svg.hidden = true; return; }
  const top = scores[0];
  const low = Math.min(scores[scores.length - 1], threshold ?? top);
  const y = (score) => 55 - 50 * ((score - low) / Math.max(top - low, 1e-6));
  const points = scores.map((score, i) => `${(300 * i) / Math.max(scores.length - 1, 1)},${y(score)}`).join(" ");
  const ns = "http://www.w3.org/2000/svg";
  const line = document.createElementNS(ns, "polyline");
  line.setAttribute("points", points);
  line.setAttribute("class", "curve");
  const parts = [line];
  if (threshold !== null && threshold !== undefined) {
    const cut = document.createElementNS(ns, "line");
    cut.setAttribute("x1", "0"); cut.setAttribute("x2", "300");
    cut.setAttribute("y1", String(y(threshold))); cut.setAttribute("y2", String(y(threshold)));
    cut.setAttribute("class", "cutoff");
    parts.push(cut);
  }
  svg.replaceChildren(...parts);
  svg.hidden = false;
}

function mark(index, state) {
  const image = page[index];
  if (!image) return;
  if (state) decided.set(image.id, state); else decided.delete(image.id);
  const tile = candidates.children[index];
  tile.dataset.state = state || "";
  tile.setAttribute("aria-selected", String(state === "accepted"));
  const label = tile.querySelector(".decision");
  label.textContent = state === "accepted" ? "Accepted" : state === "rejected" ? "Rejected" : "";
}

function focusTile(index) {
  focused = Math.max(0, Math.min(index, page.length - 1));
  for (const [i, tile] of [...candidates.children].entries()) tile.classList.toggle("focused", i === focused);
  candidates.setAttribute("aria-activedescendant", `candidate-${focused}`);
  candidates.children[focused]?.scrollIntoView({ block: "nearest" });
}

function candidateTile(image, index) {
  const tile = resultTile(image);
  tile.id = `candidate-${index}`;
  tile.setAttribute("role", "option");
  tile.setAttribute("aria-selected", "false");
  for (const link of tile.querySelectorAll("a")) link.tabIndex = -1; // the list is one tab stop
  const decision = document.createElement("span");
  decision.className = "decision";
  const buttons = document.createElement("div");
  buttons.className = "decide";
  for (const [state, text] of [["accepted", "Accept"], ["rejected", "Reject"]]) {
    const button = document.createElement("button");
    button.type = "button";
    button.tabIndex = -1;
    button.className = "button secondary";
    button.textContent = text;
    button.setAttribute("aria-label", `${text} ${image.name}`);
    button.addEventListener("click", () => { mark(index, decided.get(image.id) === state ? null : state); focusTile(index); });
    buttons.append(button);
  }
  tile.append(decision, buttons);
  return tile;
}

async function showCandidates() {
  try {
    const answer = await apiGet(`${base}/gather?limit=24`);
    showCounts(answer.selection);
    page = answer.candidates;
    decided.clear();
    candidates.replaceChildren(...page.map(candidateTile));
    drawCurve(answer.scores, answer.threshold);
    const below = answer.threshold === null ? 0 : answer.scores.filter((s) => s < answer.threshold).length;
    gatherStatus.textContent = page.length
      ? `${page.length} candidates, best first` +
        (below ? ` · the scores fall below the relevance cutoff after ${answer.scores.length - below} more` : "")
      : answer.unmarked
        ? `No candidates left: the ${answer.unmarked.toLocaleString()} images not marked are all more like a ` +
          "rejected image than like the accepted ones."
        : "No candidates left: every image is marked.";
    document.getElementById("gather-actions").hidden = !page.length;
    if (page.length) { focusTile(0); candidates.focus(); } else candidates.removeAttribute("aria-activedescendant");
  } catch (error) {
    showMessage(gatherStatus, error.message, { error: true });
  }
}

async function sendDecisions(restState) {
  const groups = { accepted: [], rejected: [], seen: [] };
  for (const image of page) groups[decided.get(image.id) || restState].push(image.id);
  let selection = null;
  for (const [state, ids] of Object.entries(groups)) {
    if (ids.length) selection = await apiSend("POST", `${base}/images`, { ids, state });
  }
  if (selection) showCounts(selection);
  await showCandidates();
  loadMembers(true);
}

document.getElementById("gather-button")?.addEventListener("click", showCandidates);
document.getElementById("accept-rest")?.addEventListener("click", () => sendDecisions("accepted").catch(
  (error) => showMessage(gatherStatus, error.message, { error: true })));
document.getElementById("next-page")?.addEventListener("click", () => sendDecisions("seen").catch(
  (error) => showMessage(gatherStatus, error.message, { error: true })));
candidates?.addEventListener("keydown", (event) => {
  const columns = Math.max(1, Math.round(candidates.clientWidth / (candidates.children[0]?.clientWidth || 1)));
  const moves = { ArrowRight: 1, ArrowLeft: -1, ArrowDown: columns, ArrowUp: -columns };
  if (event.key in moves) { focusTile(focused + moves[event.key]); event.preventDefault(); return; }
  const state = { a: "accepted", r: "rejected", u: null }[event.key];
  if (state !== undefined) {
    mark(focused, state);
    if (state) focusTile(focused + 1);
    event.preventDefault();
  }
});

document.getElementById("delete-selection")?.addEventListener("click", async () => {
  if (!window.confirm(`Delete the selection "${name}"? Its images stay indexed.`)) return;
  await apiSend("DELETE", base);
  window.location.href = "/selections";
});

exportForm(document.querySelector(".export-form"));
loadMembers(true);
