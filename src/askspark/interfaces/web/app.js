// askspark web UI: plain JavaScript, no build step.
// Everything that comes from data or from the model is put on the page with textContent (never
// innerHTML), so a cell holding "<img onerror=...>" is shown as those characters and nothing runs.
"use strict";

const $ = (id) => document.getElementById(id);
const selected = new Set();
let current = null; // the run shown: its answer document
let stream = null; // the EventSource of the run being followed
let followUp = null; // the run the next question follows ({run_id, question}), or null: a new question

// --- helpers --------------------------------------------------------------------------------------

function el(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (className) node.className = className;
  return node;
}

function token() {
  return $("token").value.trim();
}

function withToken(path) {
  // EventSource and download links cannot send headers: the API accepts ?token= on those two.
  return token() ? `${path}?token=${encodeURIComponent(token())}` : path;
}

async function api(path, options = {}) {
  const headers = Object.assign({}, options.headers || {});
  if (token()) headers.Authorization = `Bearer ${token()}`;
  const response = await fetch(path, Object.assign({}, options, { headers }));
  const body = await response.json().catch(() => null);
  if (!response.ok) {
    const error = (body && body.error) || { message: `HTTP ${response.status}` };
    throw new Error(error.suggestion ? `${error.message} (${error.suggestion})` : error.message);
  }
  return body;
}

function showError(error) {
  const box = $("error");
  box.textContent = error ? String(error.message || error) : "";
  box.hidden = !error;
}

function guarded(fn) {
  return (...args) => fn(...args).then(() => showError(null)).catch(showError);
}

function cell(value) {
  if (value === null || value === undefined) return el("td", "NULL", "null");
  return el("td", typeof value === "object" ? JSON.stringify(value) : value);
}

function grid(columns, rows) {
  const table = el("table");
  const head = el("tr");
  for (const column of columns) head.appendChild(el("th", column));
  table.appendChild(el("thead")).appendChild(head);
  const body = table.appendChild(el("tbody"));
  for (const row of rows) {
    const tr = body.appendChild(el("tr"));
    for (const value of row) tr.appendChild(cell(value));
  }
  return table;
}

// --- answers people read: tables, charts, the written answer ------------------------------------

const NUMERIC = /^(tinyint|smallint|int|integer|bigint|long|short|byte|float|double|decimal)/i;
const numberFormat = new Intl.NumberFormat(undefined, { maximumFractionDigits: 6 });

// One result cell: numbers formatted and right-aligned (the exact value on hover), dates as dates,
// NULL visible, long text wrapped. Always textContent: a cell is shown as the characters it holds.
function resultCell(value, type) {
  if (value === null || value === undefined) return el("td", "NULL", "null");
  if (typeof value === "number" && NUMERIC.test(type)) {
    const td = el("td", numberFormat.format(value), "num");
    td.title = String(value);
    return td;
  }
  if (typeof value === "string" && /^(date|timestamp)/i.test(type)) {
    const td = el("td", null, "date");
    td.appendChild(el("time", value.replace("T", " "))).dateTime = value; // machine-readable for assistive tech
    return td;
  }
  return el("td", typeof value === "object" ? JSON.stringify(value) : value, "text");
}

// A result as a table people can read: each column's type on hover over its name.
function resultGrid(columns, rows) {
  const table = el("table", null, "result");
  const head = el("tr");
  for (const column of columns) {
    const th = el("th", column.name, NUMERIC.test(column.type) ? "num" : "");
    th.title = `type: ${column.type}`;
    th.scope = "col";
    head.appendChild(th);
  }
  table.appendChild(el("thead")).appendChild(head);
  const body = table.appendChild(el("tbody"));
  for (const row of rows) {
    const tr = body.appendChild(el("tr"));
    row.forEach((value, i) => tr.appendChild(resultCell(value, columns[i] ? columns[i].type : "")));
  }
  return table;
}

// The answer's chart (a Vega-Lite spec askspark built from the result), drawn as SVG by vega-embed
// with Vega's expression interpreter (ast: true): no eval, so the strict CSP holds. Labels and
// tooltips are data Vega draws as text. One value and no chart: the value, big.
function drawChart(box, bigBox, answer) {
  box.replaceChildren();
  box.removeAttribute("role");
  box.removeAttribute("aria-label");
  charts.delete(box);
  bigBox.hidden = true;
  const result = answer.result;
  if (!answer.chart) {
    if (result && result.rows.length === 1 && result.columns.length === 1) {
      bigBox.textContent = resultCell(result.rows[0][0], result.columns[0].type).textContent;
      bigBox.title = `${result.columns[0].name} (${result.columns[0].type})`;
      bigBox.hidden = false;
    }
    return;
  }
  if (typeof vegaEmbed !== "function") {
    box.appendChild(el("p", "Charts need the web UI's npm packages: run scripts/setup.sh.", "hint"));
    return;
  }
  box.setAttribute("role", "figure");
  box.setAttribute("aria-label", answer.chart.description || "chart"); // an attribute: text, never markup
  charts.set(box, answer.chart);
  embed(box, answer.chart);
}

const charts = new Map(); // each chart's box -> its spec, drawn again when the page's width changes

// defaultStyle and the tooltip's default style are inline <style> elements the CSP refuses: the same
// rules are in style.css. The tooltip escapes its text (vega-tooltip's sanitize, on by default).
const EMBED_OPTIONS = { renderer: "svg", actions: false, ast: true, defaultStyle: false, tooltip: { disableDefaultStyle: true } };

// As wide as the box allows (a phone's 390 px too): a first guess of the labels' room, then, when the
// drawn chart is still wider than its box (long labels), once more narrower by the difference.
function embed(box, chart, width) {
  const plot = width || Math.max(120, Math.min(chart.width || 560, (box.clientWidth || 560) - 160));
  const spec = Object.assign({}, chart, { width: plot });
  vegaEmbed(box, spec, EMBED_OPTIONS)
    .then(() => {
      const svg = box.querySelector("svg");
      const over = svg ? svg.getBoundingClientRect().width - box.clientWidth : 0;
      if (over > 1 && !width && plot - over >= 80) embed(box, chart, plot - over);
    })
    .catch((error) => box.replaceChildren(el("p", `The chart could not be drawn: ${error.message || error}`, "hint")));
}

let resizing = null;
window.addEventListener("resize", () => {
  clearTimeout(resizing);
  resizing = setTimeout(() => {
    for (const [box, chart] of charts) box.isConnected ? embed(box, chart) : charts.delete(box);
  }, 150);
});

function summarySource(answer) {
  if (!answer.summary) return "";
  return answer.summary_source === "model"
    ? "Written by the model; every number and quoted name in it was found in the result."
    : "Written by askspark from the result.";
}

// --- catalog --------------------------------------------------------------------------------------

async function loadCatalog() {
  const { databases } = await api("/v1/catalog/databases");
  const box = $("databases");
  box.replaceChildren();
  for (const db of databases) {
    const { tables } = await api(`/v1/catalog/databases/${encodeURIComponent(db)}/tables`);
    const group = box.appendChild(el("div", null, "database"));
    group.appendChild(el("h3", db));
    const list = group.appendChild(el("ul", null, "tables"));
    for (const t of tables) list.appendChild(tableItem(db, t));
  }
  updateSelected();
}

function tableItem(db, t) {
  const name = `${db}.${t}`;
  const item = el("li");
  const box = el("input");
  box.type = "checkbox";
  box.checked = selected.has(name);
  box.dataset.table = name;
  box.setAttribute("aria-label", `select ${name}`);
  box.addEventListener("change", () => {
    box.checked ? selected.add(name) : selected.delete(name);
    updateSelected();
  });
  const link = el("button", t, "link");
  link.type = "button";
  link.addEventListener("click", guarded(() => showTable(db, t)));
  item.append(box, link);
  return item;
}

function updateSelected() {
  $("selected").textContent = selected.size ? [...selected].join(", ") : "none selected";
}

async function showTable(db, t) {
  const data = await api(`/v1/catalog/tables/${encodeURIComponent(db)}/${encodeURIComponent(t)}?rows=10`);
  const info = data.table;
  $("table-title").textContent = `${info.database}.${info.name} (${info.format}, ${info.row_count ?? "?"} rows)`;
  $("table-comment").textContent = info.comment || "";
  const schemaRows = info.columns.map((c) => [c.name, c.type, c.comment || "", c.samples.join(", ")]);
  $("schema").replaceChildren(grid(["column", "type", "comment", "samples"], schemaRows));
  $("sample").replaceChildren(grid(data.columns, data.rows));
  $("table-view").hidden = false;
}

async function uploadFile(event) {
  event.preventDefault();
  const file = $("upload-file").files[0];
  if (!file) return;
  const form = new FormData();
  form.append("file", file);
  $("upload-status").textContent = `uploading ${file.name}…`;
  const made = await api("/v1/uploads", { method: "POST", body: form });
  $("upload-status").textContent = `${made.table}: ${made.row_count} rows, ${made.columns.length} columns`;
  selected.add(made.table);
  await loadCatalog();
}

// --- asking and following a run -------------------------------------------------------------------

async function ask(event) {
  event.preventDefault();
  const question = $("question").value.trim();
  const body = { question, tables: [...selected] };
  if (followUp) body.follow_up = followUp.run_id; // no table ticked: the earlier run's tables
  const accepted = await api("/v1/runs", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
  if (followUp) setFollowUp({ run_id: accepted.run_id, question }); // the conversation goes on from here
  $("question").value = "";
  follow(accepted.run_id, question);
}

// A follow-up question continues a run: the server gives the model the earlier questions and their code.
function setFollowUp(target) {
  followUp = target;
  $("follow-up").hidden = !target;
  $("follow-up-text").textContent = target ? `Follow-up to: “${target.question}”` : "";
  $("ask-button").textContent = target ? "Ask follow-up" : "Ask";
}

function follow(runId, question) {
  if (stream) stream.close();
  if (current && current.run_id !== runId) archive(current);
  current = null;
  $("attempts-box").open = true; // progress per attempt streams in, visibly
  $("code-box").open = false;
  showRunHeader(runId, "queued", question);
  $("attempts").replaceChildren();
  for (const id of ["notices", "result", "downloads", "alternatives", "turn-actions", "follow-of"]) {
    $(id).replaceChildren();
  }
  $("confidence").hidden = true;
  $("summary").textContent = "";
  $("summary-source").textContent = "";
  $("chart").replaceChildren();
  $("big-number").hidden = true;
  $("truncated").hidden = true;
  $("code").value = "";
  $("run").scrollIntoView({ block: "nearest" });
  stream = new EventSource(withToken(`/v1/runs/${encodeURIComponent(runId)}/events`));
  stream.addEventListener("running", () => ($("run-status").textContent = "running"));
  stream.addEventListener("stage", (e) => showStage(JSON.parse(e.data)));
  stream.addEventListener("attempt", (e) => showAttempt(JSON.parse(e.data)));
  stream.addEventListener("done", () => {
    stream.close();
    stream = null;
    guarded(() => openRun(runId))();
    guarded(loadRuns)();
  });
  stream.onerror = () => {
    if (stream && stream.readyState === EventSource.CLOSED) showError(new Error("lost the run's event stream"));
  };
}

function showRunHeader(runId, status, question) {
  $("run").hidden = false;
  $("run-id").textContent = runId;
  $("run-status").textContent = status;
  $("run-status").className = `badge ${status}`;
  $("run-question").textContent = question || "";
}

function attemptItem(number) {
  let item = document.querySelector(`#attempts li[data-number="${Number(number)}"]`);
  if (!item) {
    item = el("li");
    item.dataset.number = String(Number(number));
    item.appendChild(el("span", `attempt ${number}`, "label"));
    item.appendChild(el("span", "", "state"));
    $("attempts").appendChild(item);
  }
  return item;
}

function showStage(data) {
  attemptItem(data.attempt).querySelector(".state").textContent = `${data.stage}…`;
}

function showAttempt(attempt) {
  const item = attemptItem(attempt.number);
  const ok = attempt.error === null;
  item.className = ok ? "ok" : "failed";
  const outcome = ok
    ? `ok after ${attempt.stage} (${attempt.seconds.toFixed(1)} s)`
    : `${attempt.error.kind} at ${attempt.stage}: ${attempt.error.message}`;
  item.querySelector(".state").textContent = outcome;
  if (attempt.code && !item.querySelector("details")) {
    const details = item.appendChild(el("details"));
    details.appendChild(el("summary", "code"));
    details.appendChild(el("pre", attempt.code, "mono"));
  }
}

async function openRun(runId) {
  const answer = await api(`/v1/runs/${encodeURIComponent(runId)}`);
  if (answer.status === "queued" || answer.status === "running") {
    follow(runId, answer.question);
    return;
  }
  showAnswer(answer);
}

function showAnswer(answer) {
  if (current && current.run_id !== answer.run_id) archive(current);
  current = answer;
  $("attempts-box").open = false; // done: the answer first, how it was made on demand
  showRunHeader(answer.run_id, answer.status, answer.question);
  $("attempts").replaceChildren();
  for (const attempt of answer.attempts) showAttempt(attempt);
  const notices = shownNotices(answer);
  if (answer.rerun_of) notices.push(`edited code from run ${answer.rerun_of} (no model asked)`);
  if (answer.knowledge_used && answer.knowledge_used.length) {
    notices.push(`knowledge used: ${answer.knowledge_used.join(", ")}`);
  }
  $("notices").replaceChildren(...notices.map((n) => el("li", n)));
  $("follow-of").replaceChildren(...followOf(answer));
  $("code").value = answer.code || "";
  $("summary").textContent = answer.summary || (answer.error ? answer.error.message : "");
  $("summary-source").textContent = summarySource(answer);
  drawChart($("chart"), $("big-number"), answer);
  showConfidence(answer);
  showResult(answer);
  $("alternatives").replaceChildren(...alternativeNodes(answer.alternatives || []));
  $("turn-actions").replaceChildren(...turnActions(answer));
}

// How far the answer can be trusted: agreement of the candidate readings, and result checks that fired.
function showConfidence(answer) {
  fillConfidence($("confidence"), answer);
}

function fillConfidence(box, answer) {
  const parts = [];
  const c = answer.confidence;
  const others = answer.alternatives || [];
  const clean = others.filter((alt) => !alt.suspect);
  if (c) parts.push(c.text ?? `${c.agree} of ${c.executed} readings agree`);
  if (c && clean.length) parts[0] += ` — other reading: ${describePreview(clean[0].result)}`;
  for (const alarm of answer.suspect || []) parts.push(`check: ${alarm}`);
  box.hidden = parts.length === 0;
  box.textContent = parts.length ? `Confidence: ${parts.join(" · ")}` : "";
  const low = (c && (c.low ?? c.agree < c.executed)) || (answer.suspect || []).length > 0;
  box.className = low ? "confidence low" : "confidence";
}

// The answer's notices, but for the agreement one: the confidence line says it (and its other reading).
function shownNotices(answer) {
  const agreement = /^\d+ of \d+ readings (agree|gave this answer)/;
  return answer.notices.filter((n) => !(answer.confidence && agreement.test(n)));
}

// A result in one short line, as the CLI's notice says it: its size and its first row.
function describePreview(result) {
  const rows = result.row_count ?? result.rows.length;
  const size = `${rows}${result.truncated ? "+" : ""} row${rows === 1 ? "" : "s"}`;
  if (!result.rows.length) return size;
  const first = result.columns.map((c, i) => `${c.name}=${result.rows[0][i]}`).join(", ");
  const text = `${size}, first: ${first}`;
  return text.length <= 160 ? text : `${text.slice(0, 159)}…`;
}

// Each other distinct result the candidates gave: how many gave it, its gist, its code and first rows.
function alternativeNodes(alternatives) {
  return alternatives.map((alt, i) => {
    const details = el("details", "", "alternative");
    const readings = (alt.count === 1 ? "1 reading" : `${alt.count} readings`) + (alt.suspect ? ", failed a result check" : "");
    details.appendChild(el("summary", `Other reading ${i + 1} (${readings}): ${describePreview(alt.result)}`));
    details.appendChild(el("pre", alt.code, "mono"));
    const scroll = details.appendChild(el("div", null, "scroll"));
    scroll.appendChild(resultGrid(alt.result.columns, alt.result.rows));
    return details;
  });
}

// "↳ follow-up to “…”": the earlier question, from this page's thread when it is there.
function followOf(answer) {
  if (!answer.follow_up_of) return [];
  const card = document.querySelector(`#thread > li[data-run="${CSS.escape(answer.follow_up_of)}"] .question`);
  const earlier = card ? `“${card.textContent.trim()}”` : `run ${answer.follow_up_of}`;
  return [el("span", `↳ follow-up to ${earlier}`, "hint")];
}

function showResult(answer) {
  const result = answer.result;
  $("result").replaceChildren();
  $("downloads").replaceChildren();
  $("truncated").hidden = true;
  if (!result) return;
  $("result").appendChild(resultGrid(result.columns, result.rows));
  if (result.truncated) {
    $("truncated").textContent =
      `Truncated: showing the first ${result.rows.length} rows; the full result has more. Download it below.`;
    $("truncated").hidden = false;
  }
  $("downloads").replaceChildren(...fullResultLinks(answer));
}

// Links to the stored full result (the server writes it batch by batch), when the run has one.
function fullResultLinks(answer) {
  if (!answer.result || !answer.result.location) return [];
  const base = `/v1/runs/${encodeURIComponent(answer.run_id)}`;
  return ["csv", "parquet"].map((fmt) => {
    const link = el("a", `full result (${fmt.toUpperCase()})`);
    link.href = withToken(`${base}/result.${fmt}`);
    link.setAttribute("download", `${answer.run_id}.${fmt}`);
    return link;
  });
}

// --- each answer's actions: follow up, "this is right", copy, download ---------------------------

// The actions of one finished answer, in a group a screen reader names by its question.
function turnActions(answer) {
  if (answer.status === "queued" || answer.status === "running") return [];
  const group = el("div", null, "actions");
  group.setAttribute("role", "group");
  group.setAttribute("aria-label", `Actions for “${answer.question}”`);
  const status = el("span", "", "hint action-status");
  status.setAttribute("role", "status");
  group.appendChild(button("Follow up", () => startFollowUp(answer), "follow"));
  if (verifiable(answer)) group.appendChild(verifyButton(answer, status));
  if (answer.summary) group.appendChild(button("Copy answer", () => copyText(answer.summary, status, "the answer"), "copy-answer"));
  if (answer.code) group.appendChild(button("Copy code", () => copyText(answer.code, status, "the code"), "copy-code"));
  if (answer.result) {
    group.appendChild(button(csvLabel(answer.result), () => downloadCsv(answer, status), "download-csv"));
  }
  group.appendChild(status);
  return [group];
}

function button(text, action, className) {
  const node = el("button", text, className);
  node.type = "button";
  node.addEventListener("click", guarded(async () => action()));
  return node;
}

function startFollowUp(answer) {
  setFollowUp({ run_id: answer.run_id, question: answer.question });
  $("ask").scrollIntoView({ block: "nearest" });
  $("question").focus();
}

// Only a succeeded answer with code, on catalog tables (not files given for one question), can be verified.
function verifiable(answer) {
  return answer.status === "succeeded" && Boolean(answer.code) && !answer.tables.some((t) => t.startsWith("files."));
}

// "This is right": a toggle (aria-pressed) that records the run as a verified answer, or takes it back.
function verifyButton(answer, status) {
  const path = `/v1/runs/${encodeURIComponent(answer.run_id)}/verify`;
  let pressed = false; // once pressed, the state shown is the server's answer to that, not to the first look
  const node = button("This is right", async () => {
    pressed = true;
    const on = node.getAttribute("aria-pressed") !== "true";
    const body = await api(path, { method: on ? "POST" : "DELETE" });
    show(body.verified);
    status.textContent = body.verified
      ? "Recorded as a verified answer: later questions on these tables learn from it."
      : "No longer a verified answer.";
  }, "verify");
  const show = (verified) => {
    node.setAttribute("aria-pressed", String(verified));
    node.textContent = verified ? "✓ Verified (undo)" : "This is right";
    node.classList.toggle("verified", verified);
  };
  show(false);
  api(path) // whether it is verified already (an error: shown as not verified)
    .then((body) => pressed || show(body.verified))
    .catch(() => {});
  return node;
}

// Copy, then say what was copied (it stays until the next action: nothing times out under a test).
async function copyText(text, status, what) {
  try {
    await navigator.clipboard.writeText(text);
  } catch {
    // No clipboard API (a page not served from loopback or https): copy through a selected textarea.
    const area = el("textarea", text, "visually-hidden");
    document.body.appendChild(area);
    area.select();
    document.execCommand("copy");
    area.remove();
  }
  status.textContent = what ? `copied ${what}` : "copied";
}

function csvLabel(result) {
  return result.truncated ? `Download shown rows (CSV)` : "Download CSV";
}

// The answer's rows as CSV (RFC 4180: a field with a comma, quote or line break is quoted), made in
// the page and saved through a blob: link. Values are written as they are; NULL is an empty field.
function csvOf(result) {
  const field = (value) => {
    if (value === null || value === undefined) return "";
    const text = typeof value === "object" ? JSON.stringify(value) : String(value);
    return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
  };
  const lines = [result.columns.map((c) => field(c.name)), ...result.rows.map((row) => row.map(field))];
  return lines.map((line) => line.join(",")).join("\r\n") + "\r\n";
}

function downloadCsv(answer, status) {
  const blob = new Blob([csvOf(answer.result)], { type: "text/csv" });
  const link = el("a");
  link.href = URL.createObjectURL(blob);
  link.download = `${answer.run_id}${answer.result.truncated ? "-shown" : ""}.csv`;
  document.body.appendChild(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(link.href), 10_000);
  status.textContent = `saved ${link.download}`;
}

// --- the thread: earlier answers of this page, oldest first ---------------------------------------

const THREAD_ROWS = 20; // rows an earlier answer shows; the whole result is one click away

// An earlier answer as a card: question, written answer, chart, table; attempts and code collapsed.
function archive(answer) {
  if (document.querySelector(`#thread > li[data-run="${CSS.escape(answer.run_id)}"]`)) return;
  $("thread").appendChild(turnCard(answer));
}

function turnCard(answer) {
  const item = el("li", null, "turn");
  item.dataset.run = answer.run_id;
  const line = item.appendChild(el("p", null, "run-line"));
  line.append(el("span", answer.status, `badge ${answer.status}`), el("span", ` ${answer.question}`, "question"));
  if (answer.follow_up_of) item.appendChild(el("p", null, "follow-of")).append(...followOf(answer));
  item.appendChild(el("p", answer.summary || (answer.error ? answer.error.message : ""), "answer-text"));
  item.appendChild(el("p", summarySource(answer), "hint"));
  const chart = item.appendChild(el("div", null, "chart"));
  const big = item.appendChild(el("p", null, "big-number"));
  drawChart(chart, big, answer);
  const confidence = item.appendChild(el("p"));
  fillConfidence(confidence, answer);
  const notices = shownNotices(answer);
  if (notices.length) item.appendChild(el("ul", null, "notices")).append(...notices.map((n) => el("li", n)));
  item.appendChild(el("div", null, "turn-actions")).append(...turnActions(answer));
  if (answer.result) item.appendChild(resultDetails(answer));
  const links = fullResultLinks(answer);
  if (links.length) item.appendChild(el("p", null, "downloads")).append(...links);
  item.append(...alternativeNodes(answer.alternatives || []));
  item.appendChild(codeDetails(answer));
  const open = item.appendChild(el("button", "Open this run", "link"));
  open.type = "button";
  open.addEventListener("click", guarded(() => openRun(answer.run_id)));
  return item;
}

function resultDetails(answer) {
  const r = answer.result;
  const details = el("details", null, "result-box");
  const more = r.rows.length > THREAD_ROWS || r.truncated ? ` (first ${Math.min(THREAD_ROWS, r.rows.length)})` : "";
  details.appendChild(el("summary", `Result: ${r.rows.length}${r.truncated ? "+" : ""} rows${more}`));
  const scroll = details.appendChild(el("div", null, "scroll"));
  scroll.appendChild(resultGrid(r.columns, r.rows.slice(0, THREAD_ROWS)));
  details.open = !answer.chart; // no chart: the table is the answer
  return details;
}

function codeDetails(answer) {
  const details = el("details", null, "code-box");
  const attempts = answer.attempts.length === 1 ? "1 attempt" : `${answer.attempts.length} attempts`;
  details.appendChild(el("summary", `Code (${attempts})`));
  details.appendChild(el("pre", answer.code || "", "mono"));
  const list = details.appendChild(el("ol", null, "attempts"));
  for (const a of answer.attempts) {
    const outcome = a.error === null ? `ok after ${a.stage}` : `${a.error.kind} at ${a.stage}: ${a.error.message}`;
    list.appendChild(el("li", `attempt ${a.number}: ${outcome}`, a.error === null ? "ok" : "failed"));
  }
  return details;
}

async function rerun() {
  if (!current) throw new Error("open a finished run first");
  const accepted = await api(`/v1/runs/${encodeURIComponent(current.run_id)}/rerun`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ code: $("code").value }),
  });
  follow(accepted.run_id, current.question);
}

async function copyCode() {
  await copyText($("code").value, $("code-status")); // the code as edited
}

// --- history --------------------------------------------------------------------------------------

async function loadRuns() {
  const runs = await api("/v1/runs?limit=30");
  $("runs").replaceChildren(
    ...runs.map((run) => {
      const item = el("li");
      const button = el("button", null, "link");
      button.type = "button";
      button.append(el("span", run.status, `badge ${run.status}`), el("span", ` ${run.question}`));
      button.title = `${run.run_id}: ${run.tables.join(", ")}`;
      button.addEventListener("click", guarded(() => openRun(run.run_id)));
      item.appendChild(button);
      return item;
    }),
  );
}

// --- start ----------------------------------------------------------------------------------------

function start() {
  $("token").value = sessionStorage.getItem("askspark-token") || "";
  $("token").addEventListener("change", () => {
    sessionStorage.setItem("askspark-token", token());
    guarded(refresh)();
  });
  $("upload-form").addEventListener("submit", guarded(uploadFile));
  $("ask-form").addEventListener("submit", guarded(ask));
  $("question").addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) $("ask-form").requestSubmit();
    if (event.key === "Escape" && followUp) setFollowUp(null); // Escape: a new question, not a follow-up
  });
  $("rerun").addEventListener("click", guarded(rerun));
  $("new-question").addEventListener("click", () => {
    setFollowUp(null);
    $("question").focus();
  });
  $("copy").addEventListener("click", guarded(copyCode));
  guarded(refresh)();
}

async function refresh() {
  await loadCatalog();
  await loadRuns();
}

start();
