// The browser client end to end, as a user drives it: `attnscope serve` on a 100 000-token
// map (no display), Debian's Chromium headless through playwright-core (web/package-lock.json)
// opening the printed URL with its token, the whole map, zooming about the cursor down to
// single cells, hovering one, switching head, and Ctrl-C stopping the server.
//
//   node tests/web/browser_test.mjs build/app/attnscope OUT_DIR
import { spawn, spawnSync } from "node:child_process";
import { mkdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const { chromium } = await import(path.join(here, "..", "..", "web", "node_modules", "playwright-core", "index.mjs"));
const [binary, outDir = "browser-test"] = process.argv.slice(2);
mkdirSync(outDir, { recursive: true });

// Waits for a condition in the page; on a timeout, says which step and what the page showed.
async function waitIn(page, label, fn, arg = null, timeout = 300000) {
  try {
    await page.waitForFunction(fn, arg, { timeout });
  } catch (e) {
    const state = await page.evaluate(() => {
      const a = window.attnscope;
      return a && { have: [...a.tiles.keys()].filter((k) => k.startsWith("0/")), want: a.tileKeys(a.level()), pendingKeys: [...a.pending.keys()], fetches: a.fetchesDone, info: a.info.generation, pending: a.pending.size, tiles: a.tiles.size, level: a.level(), cpp: a.cpp,
                    readout: document.getElementById("readout").textContent, error: document.getElementById("error").textContent };
    }).catch(() => null);
    fail(`${label}: ${e.message.split("\n")[0]}; page state ${JSON.stringify(state)}`);
  }
}

function fail(message) {
  console.error("FAIL: " + message);
  process.exitCode = 1;
  throw new Error(message);
}

const server = spawn(binary, ["serve", "--tokens", "100000", "--heads", "2", "--port", "0"], { stdio: ["ignore", "pipe", "pipe"] });
let out = "", err = "";
server.stdout.on("data", (d) => { out += d; });
server.stderr.on("data", (d) => { err += d; });
const url = await new Promise((resolve, reject) => {
  const t = setTimeout(() => reject(new Error("serve printed no URL in 120 s:\n" + out + err)), 120000);
  const poll = setInterval(() => {
    const m = out.match(/open (http:\/\/\S+)/);
    if (m) { clearTimeout(t); clearInterval(poll); resolve(m[1]); }
  }, 50);
  server.on("exit", (code) => reject(new Error(`serve exited with ${code}:\n${err}`)));
});

const browser = await chromium.launch({ executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium", args: ["--no-sandbox"] });
const started = Date.now();
try {
  const page = await browser.newPage({ viewport: { width: 1000, height: 820 } });
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  // Refused and cancelled requests (403 without the token, 410 for tiles the view left) are
  // part of the test; script errors are not.
  page.on("console", (m) => { if (m.type() === "error" && !m.text().startsWith("Failed to load resource")) errors.push(m.text()); });

  // Without the token: refused.
  const bare = await page.goto(url.replace(/\?token=.*/, ""));
  if (bare.status() !== 403) fail(`no token gave ${bare.status()}`);

  await page.goto(url);
  const settled = (label) => waitIn(page, `settling (${label})`, () => {
    const a = window.attnscope;
    return a && a.info && a.pending.size === 0 && a.tiles.size > 0 && !a.frameQueued;
  });
  await settled("whole map");
  const firstPicture = (Date.now() - started) / 1000;
  await page.screenshot({ path: path.join(outDir, "whole-map.png") });

  // What the map area shows: distinct colours of the plot (a map, not a blank).
  const plotColours = () => page.evaluate(() => {
    const c = document.getElementById("map"), g = c.getContext("2d");
    const a = window.attnscope, { w, h } = a.plotSize();
    const d = g.getImageData(a.plotX, a.plotY, w, h).data, seen = new Set();
    for (let i = 0; i < d.length; i += 4 * 7) seen.add((d[i] << 16) | (d[i + 1] << 8) | d[i + 2]);
    return seen.size;
  });
  // The strips arrive with the sweep.
  await waitIn(page, "the strips", () => window.attnscope.strips !== null);
  const strips = await page.evaluate(() => {
    const s = window.attnscope.strips;
    return { block: s.block, received: s.received.length, entropyMax: Math.max(...s.entropy), sink: s.received[0] / Math.max(...s.received.slice(1)) };
  });
  if (!(strips.received > 0 && strips.entropyMax > 0 && strips.entropyMax <= Math.log(100000))) fail(`strips: ${JSON.stringify(strips)}`);
  await settled("whole map with strips");
  const wholeColours = await plotColours();
  if (wholeColours < 50) fail(`the whole map shows ${wholeColours} colours`);

  // Zoom about the cell at column 39990, row 40000 down to 16+ pixels per cell.
  const cellToScreen = (col, row) => page.evaluate(([c, r]) => {
    const a = window.attnscope, rect = a.canvas.getBoundingClientRect();
    return { x: rect.left + a.plotX + (c + 0.5 - a.x0) / a.cpp, y: rect.top + a.plotY + (r + 0.5 - a.y0) / a.cpp };
  }, [col, row]);
  for (let step = 0; step < 30; ++step) {
    const cpp = await page.evaluate(() => window.attnscope.cpp);
    if (cpp <= 1 / 16) break;
    const p = await cellToScreen(39990, 40000);
    await page.mouse.move(p.x, p.y);
    await page.mouse.wheel(0, -500);
    await page.waitForTimeout(30);
  }
  await settled("zoomed to cells");
  const level = await page.evaluate(() => window.attnscope.level());
  if (level !== 0) fail(`zoomed in, the level is ${level}, not 0`);
  await page.screenshot({ path: path.join(outDir, "cells.png") });

  // Hover one cell: the readout names it and gives p and the logit.
  const p = await cellToScreen(39990, 40000);  // column 39990, row 40000: under the causal mask's diagonal
  await page.mouse.move(p.x + 40, p.y + 40);
  await page.mouse.move(p.x, p.y);
  await waitIn(page, "the hover readout", () => /p = .*logit = /.test(document.getElementById("readout").textContent));
  const readout = await page.textContent("#readout");
  if (!readout.includes("i = 40000") || !readout.includes("j = 39990")) fail(`readout: ${readout}`);
  // The readout's p is the tile's value at that cell, fetched again over HTTP here.
  const check = await page.evaluate(async () => {
    const a = window.attnscope, token = new URLSearchParams(location.search).get("token");
    const r = await fetch(`/api/tile?level=0&tx=${Math.floor(39990 / 256)}&ty=${Math.floor(40000 / 256)}&token=${token}`);
    const v = new Float32Array(await r.arrayBuffer());
    const x = 39990 % 256, y = 40000 % 256;
    return v[(y * 256 + x) * 3 + 1];
  });
  const shown = Number(readout.match(/p = (\S+),/)[1]);
  if (Math.abs(shown - check) > 1e-3 * Math.abs(check) + 1e-12) fail(`readout p ${shown}, tile ${check}`);

  // The map area against the headless render of the same cells, colour by colour: the cells
  // wholly in view, a fixed colour range in both, each cell's colour read at its centre.
  await page.evaluate(() => window.attnscope.setRange(1e-8, 1));
  await settled("fixed colour range");
  const browserCells = await page.evaluate(() => {
    const a = window.attnscope, { w, h } = a.plotSize();
    const c0 = Math.ceil(a.x0), r0 = Math.ceil(a.y0);
    const c1 = Math.min(a.info.spec.n, Math.floor(a.x0 + w * a.cpp)), r1 = Math.min(a.info.spec.n, Math.floor(a.y0 + h * a.cpp));
    const g = a.canvas.getContext("2d"), colours = [];
    for (let r = r0; r < r1; ++r)
      for (let c = c0; c < c1; ++c) {
        const d = g.getImageData(Math.floor(a.plotX + (c + 0.5 - a.x0) / a.cpp), Math.floor(a.plotY + (r + 0.5 - a.y0) / a.cpp), 1, 1).data;
        colours.push([d[0], d[1], d[2]]);
      }
    return { r0, r1, c0, c1, colours };
  });
  const { r0, r1, c0, c1 } = browserCells;
  const rendered = path.join(outDir, "headless.png");
  const run = spawnSync(binary, ["render", "--tokens", "100000", "--heads", "2", "--head", "0", "--rows", `${r0}:${r1}`,
    "--cols", `${c0}:${c1}`, "--vmin", "1e-8", "--vmax", "1", "-q", "-o", rendered], { encoding: "utf8" });
  if (run.status !== 0) fail("render failed: " + run.stderr);
  const plot = run.stdout.match(/plot at (\S+) (\S+) (\S+) (\S+)\)/).slice(1).map(Number);
  const renderCells = await page.evaluate(async ({ png, plot, rows, cols }) => {
    const img = new Image();
    img.src = "data:image/png;base64," + png;
    await img.decode();
    const c = document.createElement("canvas");
    c.width = img.width; c.height = img.height;
    const g = c.getContext("2d");
    g.drawImage(img, 0, 0);
    const out = [];
    for (let r = 0; r < rows; ++r)
      for (let k = 0; k < cols; ++k) {
        const d = g.getImageData(Math.floor(plot[0] + (k + 0.5) * plot[2] / cols), Math.floor(plot[1] + (r + 0.5) * plot[3] / rows), 1, 1).data;
        out.push([d[0], d[1], d[2]]);
      }
    return out;
  }, { png: readFileSync(rendered).toString("base64"), plot, rows: r1 - r0, cols: c1 - c0 });
  let same = 0, worst = 0;
  browserCells.colours.forEach((a, i) => {
    const b = renderCells[i], diff = Math.max(...a.map((x, ch) => Math.abs(x - b[ch])));
    if (diff === 0) same++;
    worst = Math.max(worst, diff);
  });
  const cells = browserCells.colours.length;
  // float32 (GPU) and float64 (browser) logarithms may round a value across a colormap step.
  if (same < 0.99 * cells || worst > 8) fail(`map area vs headless render: ${same} of ${cells} cells equal, worst channel difference ${worst}`);
  const matched = `${same} of ${cells} cells (rows ${r0}:${r1}, cols ${c0}:${c1}) the same colour as the headless render, worst difference ${worst}`;

  // Switch head: a new generation, different pixels.
  const before = await page.screenshot({ clip: { x: 80, y: 150, width: 800, height: 500 } });
  await page.selectOption("#head", "1");
  await waitIn(page, "head 1 selected", () => window.attnscope.info.generation === 2 && window.attnscope.info.head === 1);
  await settled("head 1");
  const after = await page.screenshot({ clip: { x: 80, y: 150, width: 800, height: 500 }, path: path.join(outDir, "head1.png") });
  if (Buffer.compare(before, after) === 0) fail("switching head changed nothing on screen");
  // The temperature control: only T changes (the mask stays the server's), a new generation.
  const shownMask = await page.inputValue("#mask");
  if (shownMask !== "causal") fail(`the mask control shows ${shownMask}, the server uses causal`);
  await page.fill("#temperature", "2");
  await page.click("#apply");
  await waitIn(page, "T = 2 applied", () => window.attnscope.info.generation === 3 && window.attnscope.info.spec.temperature === 2 &&
    window.attnscope.info.spec.mask === "causal");
  await settled("T = 2");
  if (errors.length) fail("the page logged errors: " + errors.join(" | "));
  console.log(`browser test passed: first picture after ${firstPicture.toFixed(1)} s, ${wholeColours} colours in the whole map, readout "${readout}"; ${matched}`);
} finally {
  await browser.close();
  server.kill("SIGINT");
  const code = await new Promise((resolve) => server.on("exit", (c) => resolve(c)));
  if (code !== 0) { console.error(`serve exited with ${code} after Ctrl-C:\n${err}`); process.exitCode = 1; }
  else if (!out.includes("attnscope serve: stopped")) { console.error("serve did not say it stopped"); process.exitCode = 1; }
  if (process.exitCode) console.error("serve's log:\n" + err.split("\n").slice(-30).join("\n"));
  if (/Validation|VUID/.test(err)) { console.error("validation layer:\n" + err); process.exitCode = 1; }
}
