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
        h("tr", {}, h("th", {}, "Table"), h("th", {}, "Columns"), h("th", {}, "Rows")),
        p.tables.map((t) => h("tr", { "data-table": t.name }, h("td", {}, h("a", { href: "#/tables/" + encodeURIComponent(t.name) }, t.name)), h("td.mono", {}, t.columns.map((c) => c.name + ":" + c.type).join(", ")), h("td.num.rows", {}, t.rows))))),
      instancesCard(await api("/instances").catch(() => null))));
}

// The instances that share the database, as of their last heartbeats. One
// that has been silent longer than a lease is kept in the list until the
// others take its work over, so it shows how long ago it was last heard.
function instancesCard(found) {
  if (!found) return null;
  const ago = (ms) => { const s = Math.max(0, (Date.now() - ms) / 1000); return s < 60 ? s.toFixed(0) + " s ago" : (s / 60).toFixed(0) + " min ago"; };
  return h("section.card", { id: "instances" }, h("h2", {}, "Instances"), h("table.list", {},
    h("tr", {}, h("th", {}, "Instance"), h("th", {}, "Started"), h("th", {}, "Last heard")),
    found.instances.map((i) => h("tr", { "data-instance": i.id }, h("td.mono", {}, i.id, i.id === found.this ? h("span.muted", {}, " (this one)") : ""),
      h("td", {}, when(i.started_at)), h("td", {}, ago(i.last_seen))))));
}

// ---------- diagrams ----------
const CONTROL = new Set(["if", "switch", "for_each", "while", "try"]);
const LOOPS = new Set(["for_each", "while"]);

// A run step's node and loop iterations. The API gives both; keys are
// parsed here only for an older server: `#N` suffixes, read from the end.
function stepNode(s) {
  if (typeof s.node === "string" && Array.isArray(s.iterations)) return { node: s.node, iterations: s.iterations };
  let node = s.key;
  const iterations = [];
  for (let m = /#(\d+)$/.exec(node); m; m = /#(\d+)$/.exec(node)) {
    iterations.unshift(Number(m[1]));
    node = node.slice(0, m.index);
  }
  return { node, iterations };
}

// Whether a step record belongs to the iterations picked in the loops
// around its node (ctx.loops, outermost first; ctx.picks by loop key).
function inPicked(r, ctx) {
  return (ctx.loops || []).every((loop, depth) => {
    const pick = ctx.picks ? ctx.picks.get(loop) : undefined;
    return pick === undefined || r.iterations[depth] === pick;
  });
}

// The iterations of loop `n` that ran (within the picks of the loops
// around it): the distinct indexes its body's steps recorded.
function loopIterations(n, ctx) {
  const depth = (ctx.loops || []).length;
  const seen = new Set();
  for (const [key, records] of ctx.byKey) {
    if (!key.startsWith(n.key + ".")) continue;
    for (const r of records) if (inPicked(r, ctx) && r.iterations.length > depth) seen.add(r.iterations[depth]);
  }
  return [...seen].sort((a, b) => a - b);
}

function drawSteps(steps, ctx) {
  if (!steps.length) return h("div.empty", {}, "(nothing)");
  return h("div.seq", {}, steps.map((n) => drawNode(n, ctx)));
}

function drawNode(n, ctx) {
  const cls = ["node"];
  if (CONTROL.has(n.kind)) cls.push("control");
  if (n.kind === "response" || n.kind === "return") cls.push("answer");
  if (n.kind === "throw") cls.push("failure");
  const all = ctx.byKey ? ctx.byKey.get(n.key) : null;
  const records = all ? all.filter((r) => inPicked(r, ctx)) : null;
  if (records && records.length) {
    cls.push("ran");
    if (records.some((r) => r.status === "failed")) cls.push("failed");
    else if (records.every((r) => r.status === "skipped")) cls.push("skipped");
  }
  // A loop that ran says how many times, and lets one iteration be picked:
  // its body then shows only what that iteration did.
  let iterations = null;
  if (LOOPS.has(n.kind) && records && records.length) {
    const indexes = loopIterations(n, ctx);
    const pick = ctx.picks.get(n.key);
    const picker = h("select.iteration", { "data-loop": n.key, title: "show one iteration of this loop", onclick: (ev) => ev.stopPropagation(),
      onchange: (ev) => { ctx.setPick(n.key, ev.target.value === "" ? undefined : Number(ev.target.value)); } },
      h("option", { value: "" }, "all iterations"),
      indexes.map((i) => h("option", { value: String(i), selected: i === pick ? "" : null }, "iteration #" + i)));
    iterations = h("span.iterations", { "data-iterations": String(indexes.length) }, indexes.length === 1 ? "1 iteration" : indexes.length + " iterations", indexes.length ? picker : null);
  }
  const title = h("div.title", {},
    h("span", {}, n.label),
    n.id ? h("span.id", {}, "id: " + n.id) : null,
    n.target ? h("a", { href: `#/diagram/${n.target.kind}/${encodeURIComponent(n.target.name)}` }, "open ›") : null,
    records && records.length > 1 ? h("span.runs-count", {}, "×" + records.length) : null,
    iterations,
    h("span.key", {}, n.key));
  const inner = LOOPS.has(n.kind) ? Object.assign({}, ctx, { loops: [...(ctx.loops || []), n.key] }) : ctx;
  const el = h("div." + cls.join("."), { "data-key": n.key, title: n.key },
    title,
    n.when ? h("div.when", {}, "when " + n.when) : null,
    n.detail.length ? h("ul.detail", {}, n.detail.map((d) => h("li", {}, d))) : null,
    n.lanes.length ? h("div.lanes", {}, n.lanes.map((l) => h("div.lane", { "data-lane": l.label }, h("div.label", {}, l.label), drawSteps(l.steps, inner)))) : null);
  if (records && records.length && ctx.onPick) {
    el.addEventListener("click", (ev) => { ev.stopPropagation(); ctx.onPick(n, records, el, ctx); });
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
  const statusSel = h("select", { id: "f-status" }, ["", "running", "succeeded", "failed", "retrying"].map((s) => h("option", { value: s, selected: s === status ? "" : null }, s || "all")));
  // The server filters by start time (`since` takes an age or an RFC 3339
  // time), so the list holds the newest runs of that window, not a subset
  // of the newest runs overall.
  const ages = [["", "any time"], ["15m", "last 15 min"], ["1h", "last hour"], ["24h", "last day"], ["7d", "last 7 days"]];
  if (since && !ages.some(([v]) => v === since)) ages.push([since, "since " + since]);
  const sinceSel = h("select", { id: "f-since" }, ages.map(([v, l]) => h("option", { value: v, selected: v === since ? "" : null }, l)));
  const apply = () => { location.hash = "#/runs?" + new URLSearchParams({ name: nameSel.value, status: statusSel.value, since: sinceSel.value }).toString(); };
  [nameSel, statusSel, sinceSel].forEach((s) => s.addEventListener("change", apply));
  const body = h("tbody", { id: "runs" });
  const stamp = h("span.muted", {}, "");
  setView(h("h1", {}, "Runs"),
    h("div.filters", {}, h("label", {}, "Name", nameSel), h("label", {}, "Status", statusSel), h("label", {}, "Since", sinceSel), stamp),
    h("table.list", {}, h("thead", {}, h("tr", {}, ["Run", "Name", "Kind", "Status", "Started", "Duration", "HTTP", "Instance", "Error"].map((t) => h("th", {}, t)))), body));
  const load = async () => {
    const qs = new URLSearchParams({ limit: "200" });
    if (name) qs.set("name", name);
    if (status) qs.set("status", status);
    if (since) qs.set("since", since);
    const { runs } = await api("/runs?" + qs);
    body.replaceChildren(...runs.map((r) => h("tr", {},
      h("td.mono", {}, h("a", { href: "#/run/" + encodeURIComponent(r.id) }, r.id)),
      h("td", {}, r.name), h("td", {}, r.kind), h("td", {}, badge(r.retrying ? "retrying" : r.status)),
      h("td", {}, when(r.started_at)), h("td.num", {}, ms(r.duration_ms)),
      h("td.num", {}, r.response_status || ""), h("td.mono.instance", {}, r.instance || ""),
      h("td", {}, r.error ? (r.error.message || "") : ""))));
    if (!runs.length) body.replaceChildren(h("tr", {}, h("td", { colspan: "9" }, h("span.muted", {}, "No runs match."))));
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
    const { node, iterations } = stepNode(s);
    const r = Object.assign({}, s, { node, iterations });
    if (!byKey.has(node)) byKey.set(node, []);
    byKey.get(node).push(r);
  }
  const panel = document.getElementById("panel");
  const iterationText = (r) => r.iterations.length ? "iteration " + r.iterations.map((i) => "#" + i).join(" ") : "";
  let selected = null;
  const pick = (n, records, el, nodeCtx) => {
    selected = n.key;
    document.querySelectorAll(".node.selected").forEach((x) => x.classList.remove("selected"));
    el.classList.add("selected");
    // A loop also lists what each of its iterations did.
    let perIteration = null;
    if (LOOPS.has(n.kind)) {
      const depth = (nodeCtx.loops || []).length;
      const groups = new Map();
      for (const [key, rs] of byKey) {
        if (!key.startsWith(n.key + ".")) continue;
        for (const r of rs) {
          if (!inPicked(r, nodeCtx) || r.iterations.length <= depth) continue;
          const i = r.iterations[depth];
          if (picks.has(n.key) && picks.get(n.key) !== i) continue;
          if (!groups.has(i)) groups.set(i, []);
          groups.get(i).push(r);
        }
      }
      perIteration = [...groups.keys()].sort((a, b) => a - b).map((i) => h("section.iteration", { "data-iteration": String(i) },
        h("h3", {}, h("a", { href: "#", onclick: (ev) => { ev.preventDefault(); setPick(n.key, i); } }, "iteration #" + i)),
        h("table.list", {}, groups.get(i).sort((a, b) => a.seq - b.seq).map((r) => h("tr", {},
          h("td.mono", {}, r.key), h("td", {}, r.kind), h("td", {}, badge(r.status)), h("td.num", {}, ms(r.duration_ms)))))));
    }
    // replaceChildren takes nodes only: the optional parts are flattened
    // and dropped here, as setView does.
    panel.replaceChildren(...[
      h("button.close", { onclick: () => { panel.hidden = true; selected = null; } }, "×"),
      h("h2", {}, n.label), h("p.mono.muted", {}, n.key),
      ...records.map((r) => h("section", { class: "step-record", "data-step": r.key },
        h("h3", {}, r.key, " ", badge(r.status), " ", ms(r.duration_ms)),
        r.iterations.length ? h("div.muted", {}, iterationText(r)) : null,
        h("div", {}, "input"), h("pre", {}, json(r.input)),
        h("div", {}, "output"), h("pre", {}, json(r.output)),
        r.error ? [h("div.error", {}, "error"), h("pre", {}, json(r.error))] : null)),
      perIteration && perIteration.length ? [h("h2", {}, "Iterations"), perIteration] : null,
    ].flat(Infinity).filter((x) => x));
    panel.hidden = false;
  };
  // Picking an iteration redraws the diagram, and the step that was open
  // shows what it did in that iteration.
  const picks = new Map();
  const ctx = { byKey, onPick: pick, picks, loops: [], setPick: null };
  function setPick(loop, iteration) {
    if (iteration === undefined) picks.delete(loop); else picks.set(loop, iteration);
    const old = document.getElementById("diagram");
    if (!old || !d) return;
    old.replaceWith(drawDiagram(d, ctx));
    const again = selected ? document.querySelector(`.node.ran[data-key="${CSS.escape(selected)}"]`) : null;
    if (again) again.click(); else { panel.hidden = true; selected = null; }
  }
  ctx.setPick = setPick;
  const retry = run.status === "failed" && !run.retrying ? h("button", { onclick: async () => {
    try { const r = await api(`/runs/${encodeURIComponent(id)}/retry`, { method: "POST" }); location.hash = "#/run/" + r.run_id; } catch (e) { alert(e.message); }
  } }, "Retry") : null;
  const other = detail.steps.filter((s) => stepNode(s).node.includes("/"));
  setView(
    h("h1", {}, "Run ", h("span.mono", {}, run.id), " ", badge(run.retrying ? "retrying" : run.status), " ", retry),
    h("p", {}, `${run.kind} `, h("a", { href: `#/diagram/${kind}/${encodeURIComponent(run.name)}` }, run.name),
      ` · started ${when(run.started_at)} · ${ms(run.duration_ms)}`, run.response_status ? ` · HTTP ${run.response_status}` : "",
      run.retry_of ? [" · retries ", h("a", { href: "#/run/" + run.retry_of }, run.retry_of)] : "",
      run.trigger_event ? [" · event ", h("span.mono", {}, run.trigger_event)] : "",
      run.instance ? [" · on ", h("span.mono.instance", {}, run.instance)] : ""),
    run.error ? h("p.error", {}, `${run.error.name || "error"} at ${run.error.step || "?"}: ${run.error.message || ""}`) : null,
    h("p.muted", {}, "Steps that ran are outlined; click one for its input, output, error and duration. A loop that ran says how many iterations it made; pick one to see only what it did."),
    d ? drawDiagram(d, ctx) : h("p.muted", {}, "This run's workflow is no longer in the project."),
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
    // One request: each event comes with the runs it caused.
    const { events } = await api("/events?limit=100&include=runs");
    const rows = events.map((e) => {
      const runs = e.runs || [];
      const action = e.type.split(".").pop();
      const replay = e.state === "failed" ? h("button.replay", { "data-event": e.id, onclick: async (ev) => {
        ev.target.disabled = true;
        try { await api(`/events/${encodeURIComponent(e.id)}/replay`, { method: "POST" }); await load(); } catch (err) { alert(err.message); ev.target.disabled = false; }
      } }, "Replay") : null;
      const holder = e.state === "pending" && e.claimed_by ? h("div.muted.mono", {}, "on " + e.claimed_by) : null;
      return h("tr", { "data-event": e.id }, h("td.mono", {}, e.id), h("td.mono", {}, e.type), h("td", {}, action), h("td", {}, badge(e.state), holder),
        h("td.num", {}, e.attempts), h("td", {}, when(e.received_at)),
        h("td.runs", {}, runs.map((r) => h("div", {}, h("a", { href: "#/run/" + encodeURIComponent(r.id) }, r.name), " ", badge(r.status)))),
        h("td", {}, e.last_error || ""), h("td", {}, replay));
    });
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
    return setView(h("h1", {}, "Tables"), h("ul", {}, (p ? p.tables : []).map((t) => h("li", {}, h("a", { href: "#/tables/" + encodeURIComponent(t.name) }, t.name), h("span.muted", {}, ` · ${t.rows} ${t.rows === 1 ? "row" : "rows"}`)))));
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
