// The admin page: jobs live (Server-Sent Events from /api/jobs/events: one connection, updates pushed as they
// happen), with rate and time left measured here from the progress; starting, cancelling and resuming jobs; the
// failure report, filtered; the schedule and settings, saved; named tokens made (limited to folders or not) and
// revoked; export tokens revoked.
import { apiGet, apiSend, showMessage } from "./api.js";

const jobsBody = document.getElementById("jobs");
const jobsStatus = document.getElementById("jobs-status");
const actionStatus = document.getElementById("action-status");
const roots = [...document.querySelectorAll("#folders [data-folder]")].map((item) => item.dataset.folder);

// -- tables: at phone width each row reads as a card, every value after its column's name (app.css: td::before);
// the names come from the header, set on every cell as rows arrive

function labelCells(table) {
  const names = [...table.querySelectorAll("thead th")].map((th) => (th.querySelector(".visually-hidden") ? "" : th.textContent.trim()));
  for (const row of table.tBodies[0]?.rows ?? []) {
    [...row.cells].forEach((td, i) => { td.dataset.label = names[i] || ""; });
  }
}

for (const table of document.querySelectorAll(".admin-table")) {
  labelCells(table);
  new MutationObserver(() => labelCells(table)).observe(table.tBodies[0], { childList: true });
}

// -- jobs, live ---------------------------------------------------------------------------------------------------

const samples = new Map(); // job ID -> {done, at, rate}: the rate is smoothed over successive updates

function pace(job) {
  if (job.state !== "running" || !job.total) return "";
  const now = performance.now();
  const last = samples.get(job.id);
  if (last && job.done > last.done) {
    const rate = ((job.done - last.done) / (now - last.at)) * 1000;
    samples.set(job.id, { done: job.done, at: now, rate: last.rate ? 0.7 * last.rate + 0.3 * rate : rate });
  } else if (!last) {
    samples.set(job.id, { done: job.done, at: now, rate: null });
  }
  const { rate } = samples.get(job.id);
  if (!rate) return "";
  const left = (job.total - job.done) / rate;
  return `${rate.toFixed(rate < 10 ? 1 : 0)}/s · ${left < 90 ? `${Math.ceil(left)} s` : `${Math.ceil(left / 60)} min`} left`;
}

function cell(content) {
  const td = document.createElement("td");
  td.append(content);
  return td;
}

function jobRow(job) {
  const row = document.createElement("tr");
  row.dataset.id = job.id;
  row.dataset.state = job.state;
  const what = `${job.kind}${job.params.folders ? ` ${job.params.folders.join(", ")}` : ""}` +
    `${job.params.folder ? ` ${job.params.folder}` : ""}${job.params.prune ? " (prune)" : ""}` +
    `${job.params.destination ? ` → ${job.params.destination}` : ""}`;
  const progress = document.createElement("span");
  if (job.total) {
    const bar = document.createElement("progress");
    bar.max = job.total;
    bar.value = job.done;
    bar.setAttribute("aria-label", `${job.kind} progress`);
    progress.append(bar, ` ${job.done.toLocaleString()} of ${job.total.toLocaleString()}`);
  }
  const note = job.error || job.notes[job.notes.length - 1] || "";
  if (note) progress.append(document.createElement("br"), note);
  const actions = document.createElement("span");
  const act = (label, path) => {
    const button = document.createElement("button");
    button.type = "button";
    button.className = "button secondary";
    button.textContent = label;
    button.setAttribute("aria-label", `${label} ${job.kind} job ${job.id}`);
    button.addEventListener("click", () => run(apiSend("POST", `/api/jobs/${job.id}/${path}`), `${label}: ${job.kind}`));
    actions.append(button);
  };
  if (["queued", "running"].includes(job.state)) act("Cancel", "cancel");
  if (["interrupted", "failed", "cancelled"].includes(job.state)) act("Resume", "resume");
  row.append(cell(what), cell(job.state), cell(progress), cell(pace(job)), cell(job.started_at || job.created_at),
    cell(actions));
  return row;
}

const FOLDER_JOBS = ["index", "remove-folder"];
let foldersChangedBy = null; // the finished folder jobs seen: another one means the folders changed

function showJobs(jobs) {
  jobsBody.replaceChildren(...jobs.map(jobRow));
  const finished = jobs.filter((job) => FOLDER_JOBS.includes(job.kind) && job.state === "done").map((job) => job.id).join();
  if (foldersChangedBy !== null && finished !== foldersChangedBy) showFolderChoices();
  foldersChangedBy = finished;
  const running = jobs.filter((job) => job.state === "running").length;
  const queued = jobs.filter((job) => job.state === "queued").length;
  jobsStatus.textContent = `Live · ${running} running, ${queued} queued`;
}

const events = new EventSource("/api/jobs/events");
events.addEventListener("jobs", (event) => showJobs(JSON.parse(event.data)));
events.addEventListener("error", () => { jobsStatus.textContent = "Reconnecting…"; });

// -- starting jobs --------------------------------------------------------------------------------------------------

async function run(request, label) {
  try {
    await request;
    showMessage(actionStatus, `${label}: started.`);
  } catch (error) {
    showMessage(actionStatus, error.message, { error: true });
  }
}

const start = (kind, params, label) => run(apiSend("POST", "/api/jobs", { kind, params }), label);

document.getElementById("folders").addEventListener("click", (event) => {
  const button = event.target.closest("button[data-kind]");
  if (!button) return;
  const folder = button.closest("[data-folder]").dataset.folder;
  if (button.dataset.kind === "remove") {
    if (!window.confirm(`Stop indexing ${folder}?`)) return;
    const prune = window.confirm(`Also remove the images of ${folder} from the library? OK removes them (the files ` +
      "stay on disk); Cancel keeps them searchable.");
    start("remove-folder", { folder, prune }, `Remove ${folder}`);
    return;
  }
  start("index", { folders: [folder], prune: button.dataset.kind === "prune" }, `Index ${folder}`);
});
document.querySelector(".admin-actions").addEventListener("click", (event) => {
  const kind = event.target.closest("button[data-kind]")?.dataset.kind;
  if (kind === "index-all") start("index", { folders: roots }, "Index all folders");
  else if (kind) start(kind, {}, { cluster: "Recluster", "search-index": "Build the search index" }[kind] || kind);
});
document.getElementById("add-folder").addEventListener("submit", (event) => {
  event.preventDefault();
  const folder = event.target.elements.folder.value.trim();
  start("index", { folders: [folder] }, `Index ${folder}`);
});
document.getElementById("model-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const model = event.target.elements.model.value.trim();
  if (!window.confirm(`Embed every image again with ${model}? Searches go on with the current model meanwhile.`)) return;
  start("index", { folders: roots, reindex: true, model }, `Switch to ${model}`);
});
document.getElementById("backup-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const destination = event.target.elements.destination.value.trim();
  start("backup", { destination }, `Back up to ${destination}`);
});

// -- the failure report ---------------------------------------------------------------------------------------------

const filter = document.getElementById("failure-filter");
let filtering = null;
async function showFailures() {
  const status = document.getElementById("failures-status");
  try {
    const report = await apiGet(`/api/admin/failures?${new URLSearchParams({ contains: filter.value, limit: "200" })}`);
    document.getElementById("failures").replaceChildren(...report.files.map((file) => {
      const row = document.createElement("tr");
      const path = document.createElement("code");
      path.textContent = file.path;
      row.append(cell(path), cell(file.reason));
      return row;
    }));
    status.textContent = report.total
      ? `${report.matching.toLocaleString()} of ${report.total.toLocaleString()} files` +
        (report.matching > report.files.length ? ` (the first ${report.files.length} shown)` : "")
      : "Every file found was indexed.";
  } catch (error) {
    showMessage(status, error.message, { error: true });
  }
}
filter.addEventListener("input", () => { clearTimeout(filtering); filtering = setTimeout(showFailures, 250); });

// -- schedule and settings ---------------------------------------------------------------------------------------------

const SOURCES = { default: "default", saved: "saved here", environment: "set by the environment" };

function settingRow(setting) {
  const row = document.createElement("div");
  row.className = "setting-row";
  const id = `setting-${setting.name.replaceAll(".", "-")}`;
  const label = document.createElement("label");
  label.htmlFor = id;
  label.textContent = setting.name;
  const input = document.createElement("input");
  Object.assign(input, { id, name: setting.name, value: setting.value, disabled: !setting.editable, autocomplete: "off" });
  input.dataset.saved = setting.value;
  const help = document.createElement("p");
  help.className = "status";
  help.id = `${id}-help`;
  help.textContent = `${setting.help} (${SOURCES[setting.source]}${setting.editable ? "" : `: ${setting.variable}`})`;
  input.setAttribute("aria-describedby", help.id);
  row.append(label, input, help);
  return row;
}

async function showSettings() {
  const { settings } = await apiGet("/api/admin/settings");
  document.getElementById("settings-rows").replaceChildren(...settings.map(settingRow));
}

document.getElementById("settings-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const status = document.getElementById("settings-status");
  const changed = Object.fromEntries([...event.target.querySelectorAll("input:enabled")]
    .filter((input) => input.value.trim() !== input.dataset.saved).map((input) => [input.name, input.value]));
  if (!Object.keys(changed).length) {
    showMessage(status, "Nothing changed.");
    return;
  }
  try {
    const { settings } = await apiSend("PUT", "/api/admin/settings", { settings: changed });
    document.getElementById("settings-rows").replaceChildren(...settings.map(settingRow));
    showMessage(status, `Saved: ${Object.keys(changed).join(", ")}.`);
  } catch (error) {
    showMessage(status, error.message, { error: true });
  }
});

// -- tokens (named, with roles) and export tokens -------------------------------------------------------------------

function revokeButton(label, url, then) {
  const button = document.createElement("button");
  button.type = "button";
  button.className = "button secondary";
  button.textContent = "Revoke";
  button.setAttribute("aria-label", `Revoke ${label}`);
  button.addEventListener("click", async () => {
    await apiSend("POST", url);
    then();
  });
  return button;
}

async function showAccounts() {
  const { tokens } = await apiGet("/api/tokens");
  document.getElementById("accounts").replaceChildren(...tokens.map((account) => {
    const row = document.createElement("tr");
    const actions = document.createElement("span");
    if (account.active) actions.append(revokeButton(`the token of ${account.name}`, `/api/tokens/${account.id}/revoke`, showAccounts));
    row.append(cell(account.name), cell(account.role), cell(account.folders.length ? account.folders.join(", ") : "every folder"),
      cell(account.active ? "active" : `revoked ${account.revoked_at}`),
      cell(account.last_used_at || "never"), cell(`${account.created_at} by ${account.created_by}`), cell(actions));
    return row;
  }));
}

document.getElementById("account-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = event.target;
  const made = document.getElementById("account-made");
  try {
    const ticked = [...form.querySelectorAll("[name=folder]:checked")].map((box) => box.value);
    const other = form.elements.other.value.trim();
    const folders = other ? [...ticked, other] : ticked;
    const account = await apiSend("POST", "/api/tokens", { name: form.elements.name.value.trim(), role: form.elements.role.value, folders });
    const token = document.createElement("code");
    token.textContent = account.token;
    made.classList.remove("error-message");
    const where = account.folders.length ? `, sees ${account.folders.join(", ")}` : "";
    made.replaceChildren(`${account.name}'s token (${account.role}${where}), shown this once: `, token);
    form.reset();
    showAccounts();
  } catch (error) {
    showMessage(made, error.message, { error: true });
  }
});

// The folders a token can be limited to: ticks for the indexed folders and the folders right inside them (where a
// household keeps one folder per person), any deeper one typed with suggestions.
const SHOWN_DEPTH = 1;
const MAX_SUGGESTED = 2000;

async function showFolderChoices() {
  const [{ folders }, indexed] = await Promise.all([apiGet("/api/filters"), apiGet("/api/folders")]);
  const depth = (folder) => folder.split("/").filter(Boolean).length;
  const rootOf = (folder) => indexed.folders.find((root) => folder === root || folder.startsWith(`${root}/`));
  const shallow = folders.filter(({ value }) => rootOf(value) && depth(value) - depth(rootOf(value)) <= SHOWN_DEPTH);
  document.getElementById("account-folder-choices").replaceChildren(...shallow.map(({ value, count }) => {
    const label = document.createElement("label");
    const box = document.createElement("input");
    Object.assign(box, { type: "checkbox", name: "folder", value });
    label.append(box, ` ${value} (${count.toLocaleString()})`);
    return label;
  }));
  document.getElementById("account-folder-list").replaceChildren(...folders.slice(0, MAX_SUGGESTED).map(({ value }) => {
    const option = document.createElement("option");
    option.value = value;
    return option;
  }));
}

async function showTokens() {
  const { tokens } = await apiGet("/api/export-tokens");
  document.getElementById("tokens").replaceChildren(...tokens.map((token) => {
    const row = document.createElement("tr");
    const state = token.active ? `active until ${token.expires_at}` : token.revoked_at ? "revoked" : "expired";
    const actions = document.createElement("span");
    if (token.active) actions.append(revokeButton(`export token ${token.id}`, `/api/export-tokens/${token.id}/revoke`, showTokens));
    row.append(cell(token.id), cell(`${token.images.toLocaleString()} images of ${token.label}`), cell(state),
      cell(`${token.created_at} by ${token.created_by}`), cell(actions));
    return row;
  }));
}

showFailures();
Promise.all([showAccounts(), showTokens(), showFolderChoices(), showSettings()]).catch((error) => showMessage(actionStatus, error.message, { error: true }));
