// attnscope.show's viewer as a notebook holds it: an iframe in a page that is not the
// server's own (here a file: page with the iframe the Python package's _repr_html_ writes),
// opened by Debian's Chromium headless. The viewer inside must draw the map and answer a hover.
//
//   node tests/web/embed_test.mjs PAGE.html OUT_DIR
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const { chromium } = await import(path.join(here, "..", "..", "web", "node_modules", "playwright-core", "index.mjs"));
const [pagePath, outDir = "."] = process.argv.slice(2);

// Throws, so that `finally` closes the browser: an exit with Chromium still running would
// leave its processes holding the caller's pipes open.
function fail(message) {
  console.error("FAIL: " + message);
  process.exitCode = 1;
  throw new Error(message);
}

let closing = false;
const browser = await chromium.launch({ executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium", args: ["--no-sandbox"] });
try {
  const page = await browser.newPage({ viewport: { width: 1000, height: 900 } });
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  page.on("crash", () => console.error("the page crashed"));
  browser.on("disconnected", () => { if (!closing) console.error("the browser went away"); });
  page.on("console", (m) => { if (m.type() === "error" && !m.text().startsWith("Failed to load resource")) errors.push(m.text()); });
  await page.goto(pathToFileURL(path.resolve(pagePath)).href);
  const frameElement = await page.waitForSelector("iframe", { timeout: 30000 });
  const frame = await frameElement.contentFrame();
  if (!frame) fail("the iframe has no page");
  try {
    await frame.waitForFunction(() => {
      const a = window.attnscope;
      return a && a.info && a.strips !== null && a.pending.size === 0 && a.tiles.size > 0 && !a.frameQueued;
    }, null, { timeout: 120000 });
  } catch (e) {
    const state = await frame.evaluate(() => {
      const a = window.attnscope;
      return a ? { info: !!a.info, strips: a.strips !== null, pending: [...a.pending.keys()], tiles: a.tiles.size, queued: a.frameQueued,
                   status: document.getElementById("status").textContent, error: document.getElementById("error").textContent } : "no viewer";
    }).catch((x) => String(x));
    fail("the embedded viewer never settled: " + e.message.split("\n")[0] + "; page state " + JSON.stringify(state) + "; " + errors.join(" | "));
  }
  const state = await frame.evaluate(() => {
    const a = window.attnscope, { w, h } = a.plotSize();
    const d = a.ctx.getImageData(a.plotX, a.plotY, w, h).data, seen = new Set();
    for (let i = 0; i < d.length; i += 4 * 7) seen.add((d[i] << 16) | (d[i + 1] << 8) | d[i + 2]);
    return { n: a.info.spec.n, title: document.getElementById("title").textContent, colours: seen.size, w, h };
  });
  if (state.colours < 20) fail(`the embedded map shows ${state.colours} colours`);
  if (!state.title.includes("embedded")) fail(`title: ${state.title}`);
  // Hover the cell at row 3000, column 2990 (below the causal diagonal), the mouse moving over
  // the page that holds the frame. (The row labels' tokens may still be loading: the readout
  // used to ask for its own in a loop that hung the page then.)
  const box = await frameElement.boundingBox();
  const at = await frame.evaluate(([c, r]) => {
    const a = window.attnscope, rect = a.canvas.getBoundingClientRect();
    return { x: rect.left + a.plotX + (c + 0.5 - a.x0) / a.cpp, y: rect.top + a.plotY + (r + 0.5 - a.y0) / a.cpp };
  }, [2990, 3000]);
  await page.mouse.move(box.x + at.x + 30, box.y + at.y + 30);
  await page.mouse.move(box.x + at.x, box.y + at.y);
  try {
    await frame.waitForFunction(() => /i = \d+ "w\d+".*p = /.test(document.getElementById("readout").textContent), null, { timeout: 60000 });
  } catch (e) {
    fail("no hover readout: " + (await frame.textContent("#readout")));
  }
  const readout = await frame.textContent("#readout");
  // The texel under the cursor covers a few cells at this zoom: its rows and columns are named.
  const i = Number(readout.match(/i = (\d+)/)?.[1]), j = Number(readout.match(/j = (\d+)/)?.[1]);
  if (!(Math.abs(i - 3000) < 16 && Math.abs(j - 2990) < 16 && readout.includes(`"w${i}"`))) fail(`readout: ${readout}`);
  await page.screenshot({ path: path.join(outDir, "embedded.png") });
  if (errors.length) fail("the page logged errors: " + errors.join(" | "));
  console.log(`embedded viewer passed: n = ${state.n}, ${state.colours} colours in a ${state.w} x ${state.h} plot, readout "${readout}"`);
} catch (e) {
  process.exitCode = 1;
  if (!String(e).includes("FAIL")) console.error(e);
} finally {
  closing = true;
  await browser.close();
}
