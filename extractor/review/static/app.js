// The review page: a queue of records, the letter with evidence boxes, the fields beside it.
// Plain script, no dependencies; everything it loads comes from this app.
"use strict";

const state = { queue: [], shown: [], current: null, record: null, selected: null, editing: false, cache: new Map(), undo: [] };
const $ = (id) => document.getElementById(id);
const STATUS_NAMES = { agree: "agree", disagree: "disagree", rules_only: "rules only", llm_only: "LLM only",
  doubtful: "doubtful", not_read: "not read", not_found: "not found in the letter", found: "read, not compared", empty: "empty" };
const UNDO_DEPTH = 10;

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined) continue;
    if (key === "class") node.className = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (key === "dataset") Object.assign(node.dataset, value);
    else node.setAttribute(key, value);
  }
  for (const child of children.flat()) if (child != null) node.append(child);
  return node;
}

async function api(path, body) {
  const response = await fetch(path, body === undefined ? {} : {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
  const data = await response.json();
  if (!response.ok) throw new Error(data.error || response.statusText);
  return data;
}

function display(value) {
  if (value === null || value === undefined || (Array.isArray(value) && value.length === 0)) return null;
  if (Array.isArray(value)) return value.map((v) => (v !== null && typeof v === "object" ? summary(v) : String(v))).join("\n");
  if (typeof value === "object") return summary(value);
  return String(value);
}

// An object in one line: its non-empty values, lists joined by commas (a guideline: source · title · pages).
const summary = (object) => Object.values(object)
  .filter((v) => v !== null && !(Array.isArray(v) && v.length === 0))
  .map((v) => (Array.isArray(v) ? v.join(", ") : String(v))).join(" · ");

// ---- queue ----

async function loadQueue() {
  state.queue = await api("/api/queue");
  fillOptions("f-category", state.queue.flatMap((r) => r.categories));
  fillOptions("f-reason", state.queue.flatMap((r) => r.reasons));
  fillOptions("f-field", state.queue.flatMap((r) => r.flagged_fields));
  renderQueue();
}

function fillOptions(id, values) {
  $(id).append(...[...new Set(values)].sort().map((value) => el("option", {}, value)));
}

// The least confident value's confidence; a record without confidences sorts as sure.
const least = (r) => r.least_confidence ?? 1;

function filtered() {
  const term = $("search").value.trim().toLowerCase();
  const decision = $("f-decision").value, category = $("f-category").value;
  const status = $("f-status").value, reviewed = $("f-reviewed").value;
  const reason = $("f-reason").value, field = $("f-field").value, below = Number($("f-confidence").value || 2);
  const rows = state.queue.filter((r) =>
    (!term || [r.case_number || "", r.id, ...r.requests].some((t) => t.toLowerCase().includes(term))) &&
    (!decision || (decision === "Upheld" ? r.upheld : r.overturned) > 0) &&
    (!category || r.categories.includes(category)) &&
    (!status || r.statuses.includes(status)) &&
    (!reviewed || (reviewed === "yes") === r.done) &&
    (!reason || r.reasons.includes(reason)) &&
    (!field || r.flagged_fields.includes(field)) &&
    least(r) < below);
  // Needing review first, then the least confident first; not by reviewed, so a record stays
  // in its place when it is reviewed and the next one is the one below it.
  if ($("order").value === "review") {
    rows.sort((a, b) => (b.needs_review - a.needs_review) || (least(a) - least(b)) || (a.index - b.index));
  }
  return rows;
}

function renderQueue() {
  state.shown = filtered();
  $("queue-count").textContent = `${state.shown.length} of ${state.queue.length} records`;
  const flagged = state.queue.filter((r) => r.flags > 0);
  $("progress").textContent = flagged.length
    ? `${flagged.filter((r) => r.done).length} of ${flagged.length} flagged letters reviewed` : "no flagged letters";
  $("queue").replaceChildren(...state.shown.map(queueRow));
}

function queueRow(r) {
  const status = r.done ? el("span", { class: "badge reviewed" }, "reviewed")
    : r.needs_review ? el("span", { class: "badge needs" }, "needs review") : null;
  return el("li", { dataset: { index: r.index }, class: r.index === state.current ? "current" : "", onclick: () => openRecord(r.index) },
    el("div", {}, r.case_number || r.id, " ",
      r.flags ? el("span", { class: "badge flags", title: "flagged values" }, `${r.flags} flagged`) : null, " ",
      r.least_confidence !== null ? el("span", { class: "confidence", title: "the least confident value" }, r.least_confidence.toFixed(2)) : null, " ",
      status),
    r.first_reason ? el("div", { class: "reason", title: r.first_reason }, r.first_reason) : null,
    el("div", { class: "meta" }, `${r.upheld} upheld · ${r.overturned} overturned · ${r.categories.join(", ")}`));
}

function step(delta) {
  if (!state.shown.length) return;
  const at = state.shown.findIndex((r) => r.index === state.current);
  const next = at < 0 ? 0 : Math.min(Math.max(at + delta, 0), state.shown.length - 1);
  openRecord(state.shown[next].index);
}

// ---- one record ----

async function fetchRecord(index) {
  if (!state.cache.has(index)) state.cache.set(index, api(`/api/records/${index}`));
  try { return await state.cache.get(index); } catch (error) { state.cache.delete(index); throw error; }
}

async function openRecord(index, select) {
  state.current = index;
  state.editing = false;
  const record = await fetchRecord(index);
  if (state.current !== index) return;
  showRecord(record, select);
  prefetchNext();
}

// Another record opens on its first flagged value; the same one, saved, keeps its selection.
function showRecord(record, select) {
  const opened = state.record?.index !== record.index;
  state.record = record;
  const row = state.queue.findIndex((r) => r.index === record.index);
  if (row >= 0) state.queue[row] = Object.fromEntries(Object.keys(state.queue[row]).map((k) => [k, record[k]]));
  renderQueue();
  document.querySelector("#queue li.current")?.scrollIntoView({ block: "nearest" });
  $("title").textContent = `${record.case_number || record.id} — ${record.path}`;
  renderLetter(record);
  renderFields(record);
  const first = opened && !select ? flagged(record)[0] : null;
  const keep = first || record.fields.find((f) => f.path === (select || state.selected));
  selectField(keep ? keep.path : null, Boolean(select || first));
}

const flagged = (record) => record.fields.filter((f) => f.flags.length);

function prefetchNext() {
  const at = state.shown.findIndex((r) => r.index === state.current);
  const next = state.shown[at + 1];
  if (!next) return;
  fetchRecord(next.index).then((record) => {
    record.letter.pages.forEach((_, page) => { new Image().src = pageUrl(record, page); });
  }).catch(() => {});
}

function pageUrl(record, page) {
  return `/api/records/${record.index}/pages/${page}.png?v=${record.letter.sha256}`;
}

function renderLetter(record) {
  const letter = record.letter, pane = $("letter");
  const children = [el("div", { id: "flag-bar", role: "status" })];
  if (letter.problem) children.push(el("p", { class: "problem" }, letter.problem));
  if (letter.kind === "pdf") {
    letter.pages.forEach(([width, height], page) => {
      const div = el("div", { class: "page", dataset: { page } },
        el("img", { src: pageUrl(record, page), alt: `page ${page + 1}`, width: Math.round(width * 2), height: Math.round(height * 2) }));
      for (const field of record.fields) {
        for (const box of record.boxes[field.path] || []) {
          if (box.page !== page) continue;
          const node = el("div", { class: `box ${field.status}`, title: `${field.group}: ${field.label}`,
            dataset: { field: field.path }, onclick: () => selectField(field.path, true) });
          Object.assign(node.style, { left: pct(box.x), top: pct(box.y), width: pct(box.w), height: pct(box.h) });
          div.append(node);
        }
      }
      children.push(div);
    });
  } else if (letter.kind === "text") {
    children.push(textWithMarks(letter.text, record.fields));
  }
  pane.replaceChildren(...children);
}

const pct = (fraction) => `${(fraction * 100).toFixed(3)}%`;

function textWithMarks(text, fields) {
  const cuts = new Set([0, text.length]);
  for (const field of fields) for (const [start, end] of field.spans) { cuts.add(start); cuts.add(end); }
  const points = [...cuts].filter((c) => c >= 0 && c <= text.length).sort((a, b) => a - b);
  const pre = el("pre", { class: "text" });
  for (let i = 0; i + 1 < points.length; i++) {
    const [start, end] = [points[i], points[i + 1]];
    const covering = fields.filter((f) => f.spans.some(([s, e]) => s <= start && end <= e));
    const piece = text.slice(start, end);
    if (!covering.length) { pre.append(piece); continue; }
    const narrowest = covering.reduce((a, b) => spanLength(a) <= spanLength(b) ? a : b);
    pre.append(el("mark", { class: narrowest.status, dataset: { fields: covering.map((f) => f.path).join(" ") },
      title: covering.map((f) => `${f.group}: ${f.label}`).join("\n"), onclick: () => selectField(narrowest.path, true) }, piece));
  }
  return pre;
}

const spanLength = (field) => field.spans.reduce((n, [s, e]) => n + e - s, 0);

// The flags at the top of the letter: the selected value's reasons, and the record's own flags.
function renderFlagBar() {
  const bar = $("flag-bar"), record = state.record;
  if (!bar || !record) return;
  const targets = flagged(record), at = targets.findIndex((f) => f.path === state.selected);
  const own = record.other_checks.filter((c) => c.review).map((c) => el("div", { class: "reason" }, `the record: ${c.note || STATUS_NAMES[c.status]}`));
  const lines = at >= 0
    ? [el("strong", {}, `Flag ${at + 1} of ${targets.length} · ${targets[at].group}: ${targets[at].label}`),
      ...targets[at].flags.map((text) => el("div", { class: "reason" }, text))]
    : targets.length ? [el("strong", {}, `${targets.length} flagged values (n / p walk them)`)] : [];
  bar.replaceChildren(...lines, ...own);
  bar.hidden = !bar.childElementCount;
}

function renderFields(record) {
  const bar = $("record-bar");
  bar.replaceChildren(...[
    el("h2", {}, record.case_number || record.id),
    record.reviewed ? el("span", { class: "badge reviewed" }, `reviewed${record.edits ? `, ${record.edits} edits` : ""}`) : null,
    record.review_problem ? el("div", { class: "error" }, record.review_problem) : null,
    el("button", { type: "button", id: "accept", title: "accept the record as it is (a)", onclick: accept }, "Accept (a)"),
    el("button", { type: "button", id: "undo", title: `undo the last of up to ${UNDO_DEPTH} actions (u)`, onclick: undo,
      disabled: state.undo.length ? null : "disabled" }, "Undo (u)"),
  ].filter(Boolean));
  const groups = new Map();
  for (const field of record.fields) {
    if (!groups.has(field.group)) groups.set(field.group, []);
    groups.get(field.group).push(field);
  }
  const parts = [];
  if (record.other_checks.length) {
    parts.push(el("h3", {}, "Checks"), el("ul", { class: "checks" }, record.other_checks.map((c) =>
      el("li", { class: c.status }, `${c.field}: ${STATUS_NAMES[c.status]}${c.note ? ` (${c.note})` : ""}`))));
  }
  for (const [group, fields] of groups) {
    const item = /^Item (\d+)$/.exec(group);
    parts.push(el("h3", {}, group, item ? el("button", { type: "button", title: "remove this item",
      onclick: () => removeItem(Number(item[1]) - 1) }, "remove") : null));
    for (const field of fields) parts.push(fieldRow(field));
  }
  parts.push(el("button", { type: "button", id: "add-item", onclick: addItem }, "Add an item"));
  if (record.reviews.length) {
    parts.push(el("h3", {}, "Reviews"), el("ol", { class: "checks" }, record.reviews.map((r) => el("li", {},
      `${r.when.slice(0, 16).replace("T", " ")} ${r.who}: ${r.action}${r.field ? ` ${r.field}` : ""}` +
      (r.action === "edit" ? `: ${display(r.old) ?? "none"} → ${display(r.new) ?? "none"}` : "")))));
  }
  $("fields").replaceChildren(...parts);
}

function fieldRow(field) {
  const shown = display(field.value);
  const differs = ["disagree", "rules_only", "llm_only"].includes(field.status) &&
    (field.rules !== null || field.llm !== null) && JSON.stringify(field.rules) !== JSON.stringify(field.llm);
  const doubtful = field.confidence !== null && field.confidence < state.record.threshold;
  const marks = [field.flags.length ? "flagged" : "", field.settled === "edit" ? "edited" : field.settled === "accept" ? "accepted" : ""];
  return el("div", { class: `field ${field.status} ${marks.join(" ")}`, dataset: { path: field.path }, tabindex: "-1",
    onclick: () => selectField(field.path, true), ondblclick: () => edit(field.path),
    onmouseenter: () => hover(field.path, true), onmouseleave: () => hover(field.path, false) },
    el("div", { class: "label" }, el("span", {}, field.label),
      field.settled ? el("span", { class: "settled" }, field.settled === "edit" ? "edited" : "accepted") : null,
      el("span", {}, STATUS_NAMES[field.status], doubtful ? ` (${field.confidence.toFixed(2)})` : "")),
    el("div", { class: `value${shown === null ? " none" : ""}` }, shown === null ? "none" : shown),
    differs ? el("div", { class: "passes" }, `rules: ${display(field.rules) ?? "none"} · LLM: ${display(field.llm) ?? "none"}`) : null,
    ...field.flags.map((text) => el("div", { class: "reason" }, text)),
    field.note && !differs && !field.flags.includes(field.note) ? el("div", { class: "passes" }, field.note) : null);
}

function selectField(path, scroll) {
  state.selected = path;
  for (const node of document.querySelectorAll(".field.selected, .box.selected, mark.selected")) node.classList.remove("selected");
  if (!path) { renderFlagBar(); return; }
  const row = document.querySelector(`.field[data-path="${CSS.escape(path)}"]`);
  row?.classList.add("selected");
  row?.scrollIntoView({ block: "nearest" });
  const marks = [...document.querySelectorAll(`.box[data-field="${CSS.escape(path)}"]`),
    ...[...document.querySelectorAll("mark")].filter((m) => m.dataset.fields.split(" ").includes(path))];
  marks.forEach((m) => m.classList.add("selected"));
  if (scroll && marks.length) marks[0].scrollIntoView({ block: "center" });
  renderFlagBar();
}

function hover(path, on) {
  for (const box of document.querySelectorAll(`.box[data-field="${CSS.escape(path)}"]`)) box.classList.toggle("hover", on);
}

function moveField(delta) {
  const fields = state.record?.fields || [];
  if (!fields.length) return;
  const at = fields.findIndex((f) => f.path === state.selected);
  const next = at < 0 ? 0 : Math.min(Math.max(at + delta, 0), fields.length - 1);
  selectField(fields[next].path, true);
}

// The next (delta 1) or previous (-1) flagged value, whatever its status: in this record, then
// in the next record of the queue that has one (on its first; going back, on its last).
async function walkFlags(delta) {
  const fields = state.record?.fields || [];
  const at = fields.findIndex((f) => f.path === state.selected);
  const order = delta > 0 ? fields.slice(at + 1) : fields.slice(0, Math.max(at, 0)).reverse();
  const here = order.find((f) => f.flags.length);
  if (here) { selectField(here.path, true); return; }
  const row = state.shown.findIndex((r) => r.index === state.current);
  const rows = delta > 0 ? state.shown.slice(row + 1) : state.shown.slice(0, Math.max(row, 0)).reverse();
  const next = rows.find((r) => r.flags > 0);
  if (!next) { notify(delta > 0 ? "no flagged value after this one" : "no flagged value before this one"); return; }
  const targets = flagged(await fetchRecord(next.index));
  await openRecord(next.index, (delta > 0 ? targets[0] : targets[targets.length - 1])?.path);
}

function notify(text) {
  const notice = $("notice");
  notice.textContent = text;
  notice.hidden = false;
  clearTimeout(notify.timer);
  notify.timer = setTimeout(() => { notice.hidden = true; }, 4000);
}

// ---- corrections ----

// Save one review of record ``index``; every action but an undo can be undone (the last ten).
async function save(body, index = state.current) {
  const record = await api(`/api/records/${index}/reviews`, body);
  state.cache.set(index, Promise.resolve(record));
  state.editing = false;
  if (body.action !== "undo") state.undo = [...state.undo, index].slice(-UNDO_DEPTH);
  if (state.current === index) showRecord(record, state.selected);
  return record;
}

async function accept() {
  if (state.current === null) return;
  await save({ action: "accept" });
  step(1);
}

const selectedField = () => state.record?.fields.find((f) => f.path === state.selected);

// Mark the selected value reviewed as right, and go on to the next flag.
async function acceptValue() {
  const field = selectedField();
  if (!field) { notify("select a value first (↓ / ↑ or n)"); return; }
  await save({ action: "accept", field: field.path });
  await walkFlags(1);
}

// Take the LLM's reading of the selected value, where its check has one.
async function takeOther() {
  const field = selectedField();
  if (!field || field.llm === null || JSON.stringify(field.llm) === JSON.stringify(field.value)) {
    notify("this value has no other reading to take");
    return;
  }
  await save({ action: "edit", field: field.path, new: field.llm });
}

// Cancel the latest review still in effect of the record the last action was on.
async function undo() {
  const index = state.undo.pop();
  if (index === undefined) { notify("nothing to undo"); return; }
  const record = await save({ action: "undo" }, index);
  if (state.current !== index) { state.current = index; showRecord(record); }
  notify("undone");
}

function edit(path) {
  const field = state.record?.fields.find((f) => f.path === (path || state.selected));
  if (!field) return;
  selectField(field.path, false);
  state.editing = true;
  const row = document.querySelector(`.field[data-path="${CSS.escape(field.path)}"]`);
  const input = editorInput(field);
  const error = el("div", { class: "error" });
  const submit = async () => {
    try { await save({ action: "edit", field: field.path, new: parseInput(field, input) }); }
    catch (problem) { error.textContent = problem.message; }
  };
  const cancel = () => { state.editing = false; showRecord(state.record, field.path); };
  const list = ["lines", "json"].includes(field.kind);  // Enter adds a line to a list
  input.addEventListener("keydown", (event) => {
    if (event.key === "Escape") { event.preventDefault(); cancel(); }
    if (event.key === "Enter" && (!list || event.ctrlKey || event.metaKey)) { event.preventDefault(); submit(); }
  });
  row.querySelector(".value").replaceWith(el("div", { class: "editor" }, input,
    el("div", { class: "hint" }, list ? "one a line; Ctrl+Enter saves, Esc cancels" : "Enter saves, Esc cancels"), error,
    el("div", { class: "buttons" }, el("button", { type: "button", class: "save", onclick: submit }, "Save"),
      el("button", { type: "button", onclick: cancel }, "Cancel"))));
  input.focus();
}

function editorInput(field) {
  const value = field.value;
  if (field.kind === "enum") {
    const options = [...(field.nullable ? [["", "(none)"]] : []), ...field.options.map((o) => [o, o])];
    const select = el("select", { name: field.path }, options.map(([v, text]) => el("option", { value: v }, text)));
    select.value = value ?? "";
    return select;
  }
  if (field.kind === "date") return el("input", { type: "date", name: field.path, value: value ?? "" });
  if (field.kind === "int") return el("input", { type: "number", name: field.path, value: value ?? "" });
  if (field.kind === "text" && (value ?? "").length < 80) return el("input", { type: "text", name: field.path, value: value ?? "" });
  const area = el("textarea", { name: field.path });
  area.value = field.kind === "json" ? JSON.stringify(value, null, 2) : field.kind === "lines" ? (value || []).join("\n") : (value ?? "");
  return area;
}

function parseInput(field, input) {
  const raw = input.value;
  if (field.kind === "lines") return raw.split("\n").map((s) => s.trim()).filter(Boolean);
  if (field.kind === "json") {
    try { return JSON.parse(raw); } catch { throw new Error("not valid JSON"); }
  }
  if (raw.trim() === "" && field.nullable) return null;
  if (field.kind === "int") return Number(raw);
  return field.kind === "text" ? raw.trim() : raw;
}

async function addItem() {
  const request = window.prompt("The new item's request, as the letter writes it:");
  if (!request) return;
  const decision = window.prompt("Its decision (Upheld or Overturned):", "Upheld");
  if (!decision) return;
  const count = state.record.fields.filter((f) => f.path.endsWith("].request")).length;
  await save({ action: "add_item", field: `determination.items[${count}]`, new: { request, decision } });
}

async function removeItem(index) {
  if (!window.confirm(`Remove item ${index + 1}?`)) return;
  await save({ action: "remove_item", field: `determination.items[${index}]` });
}

// ---- keys ----

function onKey(event) {
  const help = $("help");
  if (event.key === "Escape" && !help.hidden) { help.hidden = true; return; }
  if (event.key === "Escape" && event.target === $("search")) { $("search").blur(); return; }
  if (event.target.closest("input, textarea, select") || event.ctrlKey || event.metaKey || event.altKey) return;
  const actions = {
    j: () => step(1), k: () => step(-1), n: () => walkFlags(1), p: () => walkFlags(-1),
    a: accept, y: acceptValue, l: takeOther, u: undo, e: () => edit(),
    "?": () => { help.hidden = !help.hidden; }, "/": () => $("search").focus(),
    ArrowDown: () => moveField(1), ArrowUp: () => moveField(-1),
  };
  const action = actions[event.key];
  if (!action) return;
  event.preventDefault();
  // One key's action at a time, in the order pressed: a key pressed while a save is on its way
  // (u u, y then u) acts on what that save left, and its notice is the last one shown.
  keys.pending = keys.pending.then(action).catch((problem) => notify(problem.message));
}
const keys = { pending: Promise.resolve() };

function init() {
  document.addEventListener("keydown", onKey);
  $("help-button").addEventListener("click", () => { $("help").hidden = false; });
  $("help").addEventListener("click", () => { $("help").hidden = true; });
  for (const id of ["search", "order", "f-decision", "f-category", "f-status", "f-reviewed", "f-reason", "f-field", "f-confidence"]) {
    $(id).addEventListener("input", renderQueue);
  }
  loadQueue().then(() => { if (state.shown.length) openRecord(state.shown[0].index); });
}

document.addEventListener("DOMContentLoaded", init);
