// paywire console: a hash-routed page over paywire's JSON API
// (/_paywire/api). Plain JavaScript, no libraries, no requests elsewhere.
// Every text reaches the page through textContent, never as HTML.
"use strict";

const API = "/_paywire/api";
let timer = null;

// Builds an element: h("div.class", {attr: v, onclick: f}, child, "text", ...)
function h(tag, attrs, ...children) {
  const [name, ...classes] = tag.split(".");
  const el = document.createElement(name);
  if (classes.length) el.className = classes.join(" ");
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

async function api(path, options) {
  const response = await fetch(API + path, Object.assign({ credentials: "same-origin", headers: { accept: "application/json" } }, options || {}));
  const body = await response.json().catch(() => ({}));
  if (response.status === 401) { location.reload(); throw new Error("signed out"); }
  if (!response.ok) throw new Error((body.error && body.error.message) || response.statusText);
  return body;
}

function badge(text) { return h("span.badge." + text, {}, text); }
function ms(v) { return v === null || v === undefined ? "" : (v < 1000 ? v.toFixed(1) + " ms" : (v / 1000).toFixed(2) + " s"); }
function when(t) { return t ? t.replace("T", " ").replace(/\.\d+Z$|Z$/, "") : ""; }
function json(v) { return JSON.stringify(v, null, 2); }
function params() {
  const q = location.hash.split("?")[1] || "";
  return new URLSearchParams(q);
}
function setView(...nodes) {
  const view = document.getElementById("view");
  // Views pass optional parts as null and groups as arrays, as h() takes them.
  view.replaceChildren(...nodes.flat(Infinity).filter((n) => n !== null && n !== undefined && n !== false));
}
function fail(e) { setView(h("p.error", {}, "Could not load: " + e.message)); }

async function showProblems() {
  try {
    const p = await api("/project");
    const box = document.getElementById("problems");
    if (p.problems) {
      box.replaceChildren(h("strong", {}, "The project on disk does not check; the last good version is still served."), h("pre", { id: "problems-text" }, p.problems));
      box.hidden = false;
    } else box.hidden = true;
    return p;
  } catch (e) { return null; }
}

// ---------- overview ----------
async function overview() {
  const p = await showProblems();
  if (!p) return fail(new Error("the project could not be read"));
  const counts = (r) => [h("td.num", {}, r.recent.runs), h("td.num", {}, r.recent.failed ? h("a", { href: "#/runs?name=" + encodeURIComponent(r.name) + "&status=failed" }, r.recent.failed) : "0")];
  setView(
    h("h1", {}, "Overview"),
    h("p.muted", {}, `${p.files.length} files · counts over the ${p.recent_runs} most recent runs`),
    h("div.grid", {},
      h("section.card", { id: "apis" }, h("h2", {}, "APIs"), h("table.list", {},
        h("tr", {}, h("th", {}, "API"), h("th", {}, "Route"), h("th", {}, "Runs"), h("th", {}, "Failed")),
        p.apis.map((a) => h("tr", {}, h("td", {}, h("a", { href: "#/diagram/api/" + encodeURIComponent(a.name) }, a.name)), h("td.mono", {}, a.method + " " + a.path), counts(a))))),
      h("section.card", { id: "workflows" }, h("h2", {}, "Backend workflows"), h("table.list", {},
        h("tr", {}, h("th", {}, "Workflow"), h("th", {}, "Trigger"), h("th", {}, "Runs"), h("th", {}, "Failed")),
        p.workflows.map((w) => h("tr", {}, h("td", {}, h("a", { href: "#/diagram/workflow/" + encodeURIComponent(w.name) }, w.name)), h("td.mono", {}, w.trigger), counts(w))))),
      h("section.card", { id: "functions" }, h("h2", {}, "Functions"), h("table.list", {},
        h("tr", {}, h("th", {}, "Function"), h("th", {}, "Parameters")),
        p.functions.map((f) => h("tr", {}, h("td", {}, h("a", { href: "#/diagram/function/" + encodeURIComponent(f.name) }, f.name)), h("td.mono", {}, f.params.join(", ")))))),
      h("section.card", { id: "tables" }, h("h2", {}, "Tables"), h("table.list", {},
        h("tr", {}, h("th", {}, "Table"), h("th", {}, "Columns")),
        p.tables.map((t) => h("tr", {}, h("td", {}, h("a", { href: "#/tables/" + encodeURIComponent(t.name) }, t.name)), h("td.mono", {}, t.columns.map((c) => c.name + ":" + c.type).join(", "))))))));
}

// ---------- diagrams ----------
const CONTROL = new Set(["if", "switch", "for_each", "while", "try"]);

function drawSteps(steps, ctx) {
  if (!steps.length) return h("div.empty", {}, "(nothing)");
  return h("div.seq", {}, steps.map((n) => drawNode(n, ctx)));
}

function drawNode(n, ctx) {
  const cls = ["node"];
  if (CONTROL.has(n.kind)) cls.push("control");
  if (n.kind === "response" || n.kind === "return") cls.push("answer");
  if (n.kind === "throw") cls.push("failure");
  const records = ctx.byKey ? ctx.byKey.get(n.key) : null;
  if (records && records.length) {
    cls.push("ran");
    const last = records[records.length - 1];
    if (records.some((r) => r.status === "failed")) cls.push("failed");
    else if (records.every((r) => r.status === "skipped")) cls.push("skipped");
    void last;
  }
  const title = h("div.title", {},
    h("span", {}, n.label),
    n.id ? h("span.id", {}, "id: " + n.id) : null,
    n.target ? h("a", { href: `#/diagram/${n.target.kind}/${encodeURIComponent(n.target.name)}` }, "open ›") : null,
    records && records.length > 1 ? h("span.runs-count", {}, "×" + records.length) : null,
    h("span.key", {}, n.key));
  const el = h("div." + cls.join("."), { "data-key": n.key, title: n.key },
    title,
    n.when ? h("div.when", {}, "when " + n.when) : null,
    n.detail.length ? h("ul.detail", {}, n.detail.map((d) => h("li", {}, d))) : null,
    n.lanes.length ? h("div.lanes", {}, n.lanes.map((l) => h("div.lane", { "data-lane": l.label }, h("div.label", {}, l.label), drawSteps(l.steps, ctx)))) : null);
  if (records && records.length && ctx.onPick) {
    el.addEventListener("click", (ev) => { ev.stopPropagation(); ctx.onPick(n, records, el); });
  }
  return el;
}

function drawDiagram(d, ctx) {
  return h("div.diagram" + (ctx.byKey ? ".run" : ""), { id: "diagram" },
    h("div.head", {}, d.head),
    d.params.length ? h("div.muted", {}, "parameters: " + d.params.join(", ")) : null,
    drawSteps(d.steps, ctx));
}

async function diagramView(kind, name) {
  showProblems();
  const d = await api(`/diagram/${kind}/${encodeURIComponent(name)}`);
  setView(
    h("h1", {}, `${kind} ${name}`),
    h("p.muted", {}, d.origin, " · ", h("a", { href: "#/runs?name=" + encodeURIComponent(name) }, "runs of " + name)),
    drawDiagram(d, {}));
}

// ---------- runs ----------
async function runsView() {
  const q = params();
  const name = q.get("name") || "", status = q.get("status") || "", since = q.get("since") || "";
  const p = await showProblems();
  const names = p ? [...p.apis.map((a) => a.name), ...p.workflows.map((w) => w.name), ...p.functions.map((f) => f.name)] : [];
  const nameSel = h("select", { id: "f-name" }, h("option", { value: "" }, "all"), names.map((n) => h("option", { value: n, selected: n === name ? "" : null }, n)));
  const statusSel = h("select", { id: "f-status" }, ["", "running", "succeeded", "failed"].map((s) => h("option", { value: s, selected: s === status ? "" : null }, s || "all")));
  const sinceSel = h("select", { id: "f-since" }, [["", "any time"], ["15", "last 15 min"], ["60", "last hour"], ["1440", "last day"]].map(([v, l]) => h("option", { value: v, selected: v === since ? "" : null }, l)));
  const apply = () => { location.hash = "#/runs?" + new URLSearchParams({ name: nameSel.value, status: statusSel.value, since: sinceSel.value }).toString(); };
  [nameSel, statusSel, sinceSel].forEach((s) => s.addEventListener("change", apply));
  const body = h("tbody", { id: "runs" });
  const stamp = h("span.muted", {}, "");
  setView(h("h1", {}, "Runs"),
    h("div.filters", {}, h("label", {}, "Name", nameSel), h("label", {}, "Status", statusSel), h("label", {}, "Since", sinceSel), stamp),
    h("table.list", {}, h("thead", {}, h("tr", {}, ["Run", "Name", "Kind", "Status", "Started", "Duration", "HTTP", "Error"].map((t) => h("th", {}, t)))), body));
  const load = async () => {
    const qs = new URLSearchParams({ limit: "200" });
    if (name) qs.set("name", name);
    if (status) qs.set("status", status);
    const { runs } = await api("/runs?" + qs);
    const cutoff = since ? Date.now() - Number(since) * 60000 : 0;
    const shown = runs.filter((r) => !cutoff || Date.parse(r.started_at) >= cutoff);
    body.replaceChildren(...shown.map((r) => h("tr", {},
      h("td.mono", {}, h("a", { href: "#/run/" + encodeURIComponent(r.id) }, r.id)),
      h("td", {}, r.name), h("td", {}, r.kind), h("td", {}, badge(r.status)),
      h("td", {}, when(r.started_at)), h("td.num", {}, ms(r.duration_ms)),
      h("td.num", {}, r.response_status || ""), h("td", {}, r.error ? (r.error.message || "") : ""))));
    if (!shown.length) body.replaceChildren(h("tr", {}, h("td", { colspan: "8" }, h("span.muted", {}, "No runs match."))));
    stamp.textContent = "updated " + new Date().toLocaleTimeString() + " · refreshes every 2 s";
  };
  await load();
  timer = setInterval(() => load().catch(() => {}), 2000);
}

async function runView(id) {
  showProblems();
  const detail = await api("/runs/" + encodeURIComponent(id));
  const run = detail.run;
  const kind = run.kind === "api" ? "api" : "workflow";
  let d = null;
  try { d = await api(`/diagram/${kind}/${encodeURIComponent(run.name)}`); } catch (e) { d = null; }
  const byKey = new Map();
  for (const s of detail.steps) {
    const key = s.key.split("#")[0];
    if (!byKey.has(key)) byKey.set(key, []);
    byKey.get(key).push(s);
  }
  const panel = document.getElementById("panel");
  const pick = (n, records, el) => {
    document.querySelectorAll(".node.selected").forEach((x) => x.classList.remove("selected"));
    el.classList.add("selected");
    panel.replaceChildren(
      h("button.close", { onclick: () => { panel.hidden = true; } }, "×"),
      h("h2", {}, n.label), h("p.mono.muted", {}, n.key),
      ...records.map((r) => h("section", { class: "step-record" },
        h("h3", {}, r.key, " ", badge(r.status), " ", ms(r.duration_ms)),
        h("div", {}, "input"), h("pre", {}, json(r.input)),
        h("div", {}, "output"), h("pre", {}, json(r.output)),
        r.error ? [h("div.error", {}, "error"), h("pre", {}, json(r.error))] : null)));
    panel.hidden = false;
  };
  const retry = run.status === "failed" ? h("button", { onclick: async () => {
    try { const r = await api(`/runs/${encodeURIComponent(id)}/retry`, { method: "POST" }); location.hash = "#/run/" + r.run_id; } catch (e) { alert(e.message); }
  } }, "Retry") : null;
  const other = detail.steps.filter((s) => s.key.includes("/"));
  setView(
    h("h1", {}, "Run ", h("span.mono", {}, run.id), " ", badge(run.status), " ", retry),
    h("p", {}, `${run.kind} `, h("a", { href: `#/diagram/${kind}/${encodeURIComponent(run.name)}` }, run.name),
      ` · started ${when(run.started_at)} · ${ms(run.duration_ms)}`, run.response_status ? ` · HTTP ${run.response_status}` : "",
      run.retry_of ? [" · retries ", h("a", { href: "#/run/" + run.retry_of }, run.retry_of)] : "",
      run.trigger_event ? [" · event ", h("span.mono", {}, run.trigger_event)] : ""),
    run.error ? h("p.error", {}, `${run.error.name || "error"} at ${run.error.step || "?"}: ${run.error.message || ""}`) : null,
    h("p.muted", {}, "Steps that ran are outlined; click one for its input, output, error and duration."),
    d ? drawDiagram(d, { byKey, onPick: pick }) : h("p.muted", {}, "This run's workflow is no longer in the project."),
    other.length ? [h("h2", {}, "Steps of called functions"), h("table.list", {}, other.map((s) => h("tr", {}, h("td.mono", {}, s.key), h("td", {}, s.kind), h("td", {}, badge(s.status)), h("td.num", {}, ms(s.duration_ms)))))] : null);
  if (run.status === "running") timer = setTimeout(() => route(), 2000);
}

// ---------- events ----------
async function eventsView() {
  showProblems();
  const body = h("tbody", { id: "events" });
  const stamp = h("span.muted", {}, "");
  setView(h("h1", {}, "Events"), h("p.muted", {}, "The webhook inbox, newest first. ", stamp),
    h("table.list", {}, h("thead", {}, h("tr", {}, ["Event", "Type", "Action", "State", "Attempts", "Received", "Runs", "Last error", ""].map((t) => h("th", {}, t)))), body));
  const load = async () => {
    const { events } = await api("/events?limit=100");
    const rows = await Promise.all(events.map(async (e) => {
      let runs = [];
      try { runs = (await api("/events/" + encodeURIComponent(e.id))).runs; } catch (_) { runs = []; }
      const action = e.type.split(".").pop();
      const replay = e.state === "failed" ? h("button.replay", { "data-event": e.id, onclick: async (ev) => {
        ev.target.disabled = true;
        try { await api(`/events/${encodeURIComponent(e.id)}/replay`, { method: "POST" }); await load(); } catch (err) { alert(err.message); ev.target.disabled = false; }
      } }, "Replay") : null;
      return h("tr", { "data-event": e.id }, h("td.mono", {}, e.id), h("td.mono", {}, e.type), h("td", {}, action), h("td", {}, badge(e.state)),
        h("td.num", {}, e.attempts), h("td", {}, when(e.received_at)),
        h("td", {}, runs.map((r) => h("div", {}, h("a", { href: "#/run/" + encodeURIComponent(r.id) }, r.name), " ", badge(r.status)))),
        h("td", {}, e.last_error || ""), h("td", {}, replay));
    }));
    body.replaceChildren(...rows);
    if (!rows.length) body.replaceChildren(h("tr", {}, h("td", { colspan: "9" }, h("span.muted", {}, "No events yet."))));
    stamp.textContent = "updated " + new Date().toLocaleTimeString();
  };
  await load();
  timer = setInterval(() => load().catch(() => {}), 2000);
}

// ---------- tables ----------
async function tablesView(name) {
  const p = await showProblems();
  if (!name) {
    return setView(h("h1", {}, "Tables"), h("ul", {}, (p ? p.tables : []).map((t) => h("li", {}, h("a", { href: "#/tables/" + encodeURIComponent(t.name) }, t.name)))));
  }
  const offset = Number(params().get("offset") || 0), limit = 50;
  const page = await api(`/tables/${encodeURIComponent(name)}?limit=${limit}&offset=${offset}`);
  const go = (o) => { location.hash = `#/tables/${encodeURIComponent(name)}?offset=${o}`; };
  const cell = (v) => v === null || v === undefined ? h("span.muted", {}, "null") : (typeof v === "object" ? JSON.stringify(v) : String(v));
  setView(h("h1", {}, "Table ", name),
    h("div.pager", {},
      h("button", { onclick: () => go(Math.max(0, offset - limit)), disabled: offset === 0 ? "" : null }, "‹ Previous"),
      h("span", { id: "page-info" }, page.rows.length ? `rows ${offset + 1}–${offset + page.rows.length}` : "no rows"),
      h("button", { onclick: () => go(offset + limit), disabled: page.has_more ? null : "" }, "Next ›")),
    h("table.list", { id: "rows" }, h("thead", {}, h("tr", {}, page.columns.map((c) => h("th", {}, c)))),
      h("tbody", {}, page.rows.map((r) => h("tr", {}, page.columns.map((c) => h("td.mono", {}, cell(r[c]))))))));
}

// ---------- router ----------
async function route() {
  clearInterval(timer); clearTimeout(timer); timer = null;
  document.getElementById("panel").hidden = true;
  const path = location.hash.replace(/^#/, "").split("?")[0] || "/";
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  try {
    if (parts[0] === "diagram" && parts.length === 3) await diagramView(parts[1], parts[2]);
    else if (parts[0] === "runs") await runsView();
    else if (parts[0] === "run" && parts[1]) await runView(parts[1]);
    else if (parts[0] === "events") await eventsView();
    else if (parts[0] === "tables") await tablesView(parts[1]);
    else await overview();
  } catch (e) { fail(e); }
}

window.addEventListener("hashchange", route);
window.addEventListener("DOMContentLoaded", route);
