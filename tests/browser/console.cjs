// The console in a real browser (headless Chromium driven by playwright-core):
// sign in, open the overview (with table row counts and the instances that
// share the database) and a diagram, make a run while the runs list is open
// and see it appear with the instance that ran it, filter the list by time
// on the server, open the run on its diagram with the path taken
// highlighted, click a step for its details, pick one iteration of a loop,
// replay a failed event from the events page and see its new run, and
// scroll to every node of a wide diagram (30 steps, a 6-case switch).
// Screenshots go to SCREENSHOTS. Run by tests/it/browser.rs; exits non-zero
// on any failure, page error or console error.
//
// Arguments: BASE_URL ADMIN_TOKEN SCREENSHOTS FAILED_EVENT_ID
// playwright-core is found through NODE_PATH (.tools/node_modules).
const { chromium } = require("playwright-core");
const { mkdirSync } = require("node:fs");

async function main() {
const [base, token, shots, failedEvent] = process.argv.slice(2);
mkdirSync(shots, { recursive: true });
const problems = [];
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox"],
});
try {
  const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  page.on("pageerror", (e) => problems.push("page error: " + e.message));
  // Failed requests are checked by URL below; the sign-in page itself is a 401.
  page.on("console", (m) => {
    if (m.type() === "error" && !m.text().startsWith("Failed to load resource")) problems.push("console error: " + m.text());
  });
  page.on("response", (r) => {
    const url = new URL(r.url());
    const signIn = url.pathname === "/console" && r.status() === 401;
    if (r.status() >= 400 && !signIn && url.pathname !== "/favicon.ico") problems.push(`${r.status()} for ${r.url()}`);
  });
  const requests = [];
  page.on("request", (r) => {
    requests.push(r.url());
    if (!r.url().startsWith(base)) problems.push("left the server: " + r.url());
  });

  // Sign in.
  await page.goto(base + "/console");
  await page.fill("#token", token);
  await page.click("#signin button[type=submit]");
  await page.waitForSelector("#apis");
  // Every table has its row count; the test's switch table is still empty.
  const rowCounts = await page.$$eval("#tables tr[data-table]", (rs) => rs.map((r) => [r.dataset.table, r.querySelector("td.rows").textContent]));
  if (!rowCounts.length || rowCounts.some(([, n]) => !/^\d+$/.test(n))) problems.push("table row counts: " + JSON.stringify(rowCounts));
  if (!rowCounts.some(([t, n]) => t === "console_switch" && n === "0")) problems.push("console_switch should show 0 rows: " + JSON.stringify(rowCounts));
  // The instances sharing the database: this server is one of them.
  const instances = await (await fetch(base + "/_paywire/api/instances", { headers: { authorization: "Bearer " + token } })).json();
  await page.waitForSelector(`#instances tr[data-instance="${instances.this}"]`);
  const thisRow = await page.textContent(`#instances tr[data-instance="${instances.this}"]`);
  if (!thisRow.includes("(this one)") || !/\d+ (s|min) ago/.test(thisRow)) problems.push("the instances card's row of this server: " + thisRow);
  await page.screenshot({ path: `${shots}/overview.png`, fullPage: true });

  // A diagram: one lane per case of the switch, and the default.
  await page.goto(base + "/console#/diagram/api/price-cart");
  await page.waitForSelector('.node[data-key="steps[2]"]');
  const lanes = await page.$$eval('.node[data-key="steps[2]"] > .lanes > .lane', (ls) => ls.map((l) => l.dataset.lane));
  if (JSON.stringify(lanes) !== JSON.stringify(["case TENOFF", "case FREESHIP", "default"])) {
    problems.push("switch lanes: " + JSON.stringify(lanes));
  }
  await page.screenshot({ path: `${shots}/diagram.png`, fullPage: true });

  // The runs list updates by itself when a flow runs.
  await page.goto(base + "/console#/runs");
  await page.waitForSelector("#runs");
  const answer = await fetch(base + "/cart/price", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ lines: [{ sku: "a", unit_amount: 500, quantity: 2 }], coupon: "TENOFF" }),
  });
  const run = answer.headers.get("x-paywire-run");
  await page.waitForSelector(`#runs a[href="#/run/${run}"]`, { timeout: 10000 });
  // Each run names the instance that ran it.
  const ranOn = await page.$eval(`#runs a[href="#/run/${run}"]`, (a) => a.closest("tr").querySelector("td.instance").textContent);
  if (ranOn !== instances.this) problems.push(`the run's instance is "${ranOn}", not "${instances.this}"`);
  await page.screenshot({ path: `${shots}/runs.png`, fullPage: true });

  // The time filter asks the server (`since`), and the new run is in the window.
  const filtered = page.waitForRequest((r) => r.url().includes("/_paywire/api/runs?") && new URL(r.url()).searchParams.get("since") === "15m");
  await page.selectOption("#f-since", "15m");
  await filtered;
  await page.waitForSelector(`#runs a[href="#/run/${run}"]`, { timeout: 10000 });
  if (!page.url().includes("since=15m")) problems.push("the time filter is not in the address: " + page.url());

  // The run on its diagram: the path taken is highlighted, a step opens.
  await page.click(`#runs a[href="#/run/${run}"]`);
  await page.waitForSelector(".node.ran");
  const runOn = await page.textContent("h1 + p .instance");
  if (runOn !== instances.this) problems.push(`the run's page says it ran on "${runOn}"`);
  const ran = await page.$$eval(".node.ran", (ns) => ns.map((n) => n.dataset.key));
  for (const key of ["steps[0]", "steps[2].cases.TENOFF[0]", "steps[3]"]) {
    if (!ran.includes(key)) problems.push(`step ${key} not highlighted: ${JSON.stringify(ran)}`);
  }
  if (ran.includes("steps[2].cases.FREESHIP[0]")) problems.push("a case that did not run is highlighted");
  await page.click('.node[data-key="steps[2].cases.TENOFF[0]"]');
  await page.waitForSelector("#panel:not([hidden])");
  const panel = await page.textContent("#panel");
  if (!panel.includes("100")) problems.push("the panel does not show the step's output (100): " + panel);
  await page.screenshot({ path: `${shots}/run.png`, fullPage: true });

  // A run through a loop three times: the loop says so, and picking an
  // iteration shows only what that iteration did.
  const looped = await fetch(base + "/cart/price", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ lines: [{ sku: "a", unit_amount: 100, quantity: 1 }, { sku: "b", unit_amount: 200, quantity: 1 }, { sku: "c", unit_amount: 300, quantity: 1 }] }),
  });
  const loopRun = looped.headers.get("x-paywire-run");
  // Only the hash changes, so wait for this run's page, not the last one's.
  await page.goto(`${base}/console#/run/${loopRun}`);
  await page.waitForFunction((id) => (document.querySelector("h1") || {}).textContent.includes(id), loopRun);
  const loop = '.node[data-key="steps[1].try[0]"]';
  const call = '.node[data-key="steps[1].try[0].steps[0]"]';
  await page.waitForSelector(`${loop}.ran`);
  const counted = await page.getAttribute(`${loop} > .title .iterations`, "data-iterations");
  if (counted !== "3") problems.push("the loop should show 3 iterations, not " + counted);
  await page.click(call);
  await page.waitForSelector("#panel:not([hidden])");
  const allRecords = await page.$$eval("#panel .step-record", (rs) => rs.map((r) => r.dataset.step));
  if (allRecords.length !== 3) problems.push("all iterations: the call's panel should list 3 records: " + JSON.stringify(allRecords));
  await page.selectOption(`${loop} > .title select.iteration`, "1");
  await page.waitForFunction(() => document.querySelectorAll("#panel .step-record").length === 1);
  const oneRecord = await page.$$eval("#panel .step-record", (rs) => rs.map((r) => r.dataset.step));
  if (JSON.stringify(oneRecord) !== JSON.stringify(["steps[1].try[0].steps[0]#1"])) problems.push("iteration #1: " + JSON.stringify(oneRecord));
  const panelOne = await page.textContent("#panel");
  if (!panelOne.includes("200") || !panelOne.includes("iteration #1")) problems.push("iteration #1's panel should show 200: " + panelOne);
  // The loop's own panel lists each iteration's steps.
  await page.click(`${loop} > .title > span:first-child`);
  await page.waitForSelector("#panel section.iteration");
  const listed = await page.$$eval("#panel section.iteration", (ss) => ss.map((s) => s.dataset.iteration));
  if (JSON.stringify(listed) !== JSON.stringify(["1"])) problems.push("with #1 picked, the loop's panel lists iterations " + JSON.stringify(listed));
  await page.screenshot({ path: `${shots}/run-iteration.png`, fullPage: true });
  await page.selectOption(`${loop} > .title select.iteration`, "");
  await page.waitForFunction(() => document.querySelectorAll("#panel section.iteration").length === 3);

  // The events page: one request lists the events with their runs; a
  // failed event is replayed after its cause is fixed, and its new run
  // appears and opens.
  const before = requests.length;
  await page.goto(base + "/console#/events");
  const row = `#events tr[data-event="${failedEvent}"]`;
  await page.waitForSelector(`${row} button.replay`);
  const oneEach = requests.slice(before).filter((u) => /\/_paywire\/api\/events\/[^/?]+$/.test(new URL(u).pathname));
  if (oneEach.length) problems.push("the events page asked for events one by one: " + JSON.stringify(oneEach));
  if (!requests.slice(before).some((u) => u.includes("/_paywire/api/events?") && u.includes("include=runs"))) problems.push("the events page did not ask for the runs with the events");
  const firstRuns = await page.$$eval(`${row} td.runs a`, (as) => as.map((a) => a.getAttribute("href")));
  if (firstRuns.length !== 1) problems.push("the failed event should show its one failed run: " + JSON.stringify(firstRuns));
  const repaired = await fetch(base + "/console-test/repair", { method: "POST", headers: { "content-type": "application/json" }, body: "{}" });
  if (!repaired.ok) problems.push("repair answered " + repaired.status);
  await page.click(`${row} button.replay`);
  await page.waitForFunction((sel) => document.querySelectorAll(sel).length === 2, `${row} td.runs a`, { timeout: 15000 });
  await page.waitForSelector(`${row} .badge.done`, { timeout: 15000 });
  const runs = await page.$$eval(`${row} td.runs a`, (as) => as.map((a) => a.getAttribute("href")));
  const newRun = runs.find((href) => !firstRuns.includes(href));
  if (!newRun) problems.push("no new run after the replay: " + JSON.stringify(runs));
  if (await page.$(`${row} button.replay`)) problems.push("a done event still offers Replay");
  await page.screenshot({ path: `${shots}/events.png`, fullPage: true });
  if (newRun) {
    await page.click(`${row} td.runs a[href="${newRun}"]`);
    await page.waitForSelector(".node.ran");
    const heading = await page.textContent("h1");
    if (!heading.includes(newRun.replace("#/run/", "")) || !heading.includes("succeeded")) problems.push("the new run's page: " + heading);
  }

  // A wide diagram: 30 steps and a switch of six cases, on a small screen.
  // Every node is in the page and can be scrolled to (nothing clipped or
  // covered where its title is).
  await page.setViewportSize({ width: 900, height: 700 });
  await page.goto(base + "/console#/diagram/workflow/big-flow");
  await page.waitForSelector('.node[data-key="steps[29]"]');
  const diagram = await (await fetch(base + "/_paywire/api/diagram/workflow/big-flow", { headers: { authorization: "Bearer " + token } })).json();
  const keys = [];
  const walk = (nodes) => nodes.forEach((n) => { keys.push(n.key); n.lanes.forEach((l) => walk(l.steps)); });
  walk(diagram.steps);
  const drawn = await page.$$eval("#diagram .node", (ns) => ns.map((n) => n.dataset.key));
  if (keys.length !== 43 || JSON.stringify(drawn) !== JSON.stringify(keys)) problems.push(`big-flow: ${drawn.length} nodes drawn, ${keys.length} in the diagram (43 expected)`);
  const bigLanes = await page.$$eval('.node[data-key="steps[10]"] > .lanes > .lane', (ls) => ls.length);
  if (bigLanes !== 7) problems.push("the switch should have 7 lanes, not " + bigLanes);
  const unreachable = await page.$$eval("#diagram .node", (ns) => ns.filter((n) => {
    const title = n.querySelector(":scope > .title");
    title.scrollIntoView({ block: "center", inline: "center" });
    const r = title.getBoundingClientRect();
    if (r.width < 20 || r.height < 8) return true;
    const x = r.left + Math.min(8, r.width / 2), y = r.top + r.height / 2;
    if (x < 0 || y < 0 || x >= innerWidth || y >= innerHeight) return true;
    const hit = document.elementFromPoint(x, y);
    return !hit || hit.closest(".node") !== n;
  }).map((n) => n.dataset.key));
  if (unreachable.length) problems.push("nodes that cannot be scrolled to: " + JSON.stringify(unreachable));
  const scrolled = await page.$eval('.node[data-key="steps[10]"] > .lanes', (l) => l.scrollWidth > l.clientWidth);
  if (!scrolled) problems.push("the six cases should overflow sideways on a 900 px screen");
  await page.evaluate(() => { window.scrollTo(0, 0); document.querySelectorAll(".lanes").forEach((l) => { l.scrollLeft = 0; }); });
  await page.screenshot({ path: `${shots}/big-diagram.png`, fullPage: true });
} catch (e) {
  problems.push(String(e && e.stack || e));
} finally {
  await browser.close();
}
if (problems.length) {
  console.error(problems.join("\n"));
  process.exit(1);
}
console.log("console ok");
}

main().catch((e) => { console.error(e); process.exit(1); });
