// The console in a real browser (headless Chromium driven by playwright-core):
// sign in, open the overview and a diagram, make a run while the runs list
// is open and see it appear, open the run on its diagram with the path taken
// highlighted, and click a step for its details. Screenshots go to
// SCREENSHOTS. Run by tests/it/browser.rs; exits non-zero on any failure,
// page error or console error.
//
// Arguments: BASE_URL ADMIN_TOKEN SCREENSHOTS
// playwright-core is found through NODE_PATH (.tools/node_modules).
const { chromium } = require("playwright-core");
const { mkdirSync } = require("node:fs");

async function main() {
const [base, token, shots] = process.argv.slice(2);
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
  page.on("request", (r) => { if (!r.url().startsWith(base)) problems.push("left the server: " + r.url()); });

  // Sign in.
  await page.goto(base + "/console");
  await page.fill("#token", token);
  await page.click("#signin button[type=submit]");
  await page.waitForSelector("#apis");
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
  await page.screenshot({ path: `${shots}/runs.png`, fullPage: true });

  // The run on its diagram: the path taken is highlighted, a step opens.
  await page.click(`#runs a[href="#/run/${run}"]`);
  await page.waitForSelector(".node.ran");
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
