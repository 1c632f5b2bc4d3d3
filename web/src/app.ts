// The browser client of `attnscope serve`: the viewer's tiles drawn on a canvas. Tiles arrive
// as float32 values (max p, mean p, max logit per texel) and the colormap is applied here, so
// lin/log, max/mean and the colour range change without fetching anything again. Coarser
// tiles stand in while finer ones arrive; tiles the view no longer needs are aborted.

interface Spec { n: number; d: number; mask: string; window: number | null; scale: number; temperature: number; softcap: number | null; }
interface Info {
  spec: Spec; heads: number; head: number; layers: number[]; layer: number; coarsest_level: number;
  sweep_level: number; tile_texels: number; sweep_progress: number; row_stats_ready: boolean;
  generation: number; device: string; title: string; tokens: number;
}
interface Tile { w: number; h: number; col0: number; row0: number; per: number; values: Float32Array; canvas?: HTMLCanvasElement; }

const token = new URLSearchParams(location.search).get("token") ?? "";
const client = Math.floor(Math.random() * 2 ** 31);
const MASKED: [number, number, number] = [228, 228, 228];  // viz/figure.h kMaskedColor
// Pixels left of the map (row axis), above it (column axis, then the attention-received
// strip) and right of it (the entropy strip).
const MAX_FETCHES = 4;
const PLOT_X = 64, STRIP = 26, PLOT_Y = 64 + STRIP + 4, RIGHT = STRIP + 14;

function withToken(path: string): string {
  return path + (path.includes("?") ? "&" : "?") + "token=" + encodeURIComponent(token);
}

// Throws on a refusal, except the statuses in `expected` (the caller handles those).
async function api(path: string, init?: RequestInit, expected: number[] = []): Promise<Response> {
  const r = await fetch(withToken(path), init);
  if (!r.ok && r.status !== 204 && !expected.includes(r.status)) throw new Error(`${r.status} ${(await r.text()).trim()}`);
  return r;
}

const el = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;

class App {
  info!: Info;
  lut: number[][] = [];
  luts: Record<string, number[][]> = {};
  tiles = new Map<string, Tile>();
  pending = new Map<string, AbortController>();
  tokenCache = new Map<number, string>();
  retries = new Map<string, number>();
  backoff = new Set<string>();  // tiles waiting to be asked for again after a failure
  // Camera: the cell at the plot's top-left corner and cells per screen pixel.
  x0 = 0; y0 = 0; cpp = 1;
  logScale = true; channel = 1;  // 0 max, 1 mean
  vmax = 1;
  fixedRange: { vmin: number; vmax: number } | null = null;  // ?vmin=&vmax=, else from the whole map
  canvas = el<HTMLCanvasElement>("map");
  ctx = this.canvas.getContext("2d")!;
  drag: { x: number; y: number; x0: number; y0: number } | null = null;
  hover: { x: number; y: number } | null = null;
  viewTimer = 0;
  frameQueued = false;
  fetchesDone = 0;

  async start() {
    this.luts = (await (await api("colormaps.json")).json()).colormaps;
    const q = new URLSearchParams(location.search);
    const pick = (id: string, v: string | null) => { if (v) el<HTMLSelectElement>(id).value = v; };
    pick("colormap", q.get("colormap")); pick("scale", q.get("scale")); pick("agg", q.get("agg"));
    this.lut = this.luts[el<HTMLSelectElement>("colormap").value] ?? this.luts["viridis"];
    this.logScale = el<HTMLSelectElement>("scale").value === "log";
    this.channel = el<HTMLSelectElement>("agg").value === "max" ? 0 : 1;
    if (q.get("vmin") && q.get("vmax")) this.fixedRange = { vmin: Number(q.get("vmin")), vmax: Number(q.get("vmax")) };
    await this.refreshInfo();
    this.resize();
    this.fit();
    this.bind();
    setInterval(() => this.refreshInfo().then(() => this.status()), 1000);
    // The server drops the requests of a client silent for 10 s (a closed tab): say the view again.
    setInterval(() => this.sendView(), 3000);
  }

  async refreshInfo() {
    const info: Info = await (await api("api/info")).json();
    if (this.info && info.generation !== this.info.generation) this.clearTiles();
    this.info = info;
    el("title").textContent = `${info.title}  |  n = ${info.spec.n}, d = ${info.spec.d}, ${info.spec.mask} mask` +
      `${info.spec.window ? " W=" + info.spec.window : ""}, T = ${info.spec.temperature}  |  ${info.device}`;
    this.showSpec(info.spec);
    const head = el<HTMLSelectElement>("head");
    if (head.options.length !== info.heads) {
      head.innerHTML = "";
      for (let h = 0; h < info.heads; ++h) head.add(new Option(`head ${h}`, String(h)));
    }
    head.value = String(info.head);
    const layer = el<HTMLSelectElement>("layer");
    layer.style.display = info.layers.length > 1 ? "" : "none";
    if (layer.options.length !== info.layers.length) {
      layer.innerHTML = "";
      for (const l of info.layers) layer.add(new Option(`layer ${l}`, String(l)));
    }
    layer.value = String(info.layer);
    if (info.row_stats_ready && !this.strips) {
      // Another head, layer or T chosen since this info (here or by another client) has
      // cleared the strips until its own sweep is done: 409, and the next poll asks again.
      const r = await api("api/strips", undefined, [409]);
      if (r.status === 409) return;
      const strips = await r.json();
      if (this.info.generation !== info.generation) return;  // a newer poll has moved on
      this.strips = strips;
      this.recolour();  // the whole map's colour range has arrived with them
    }
  }

  clearTiles() {
    for (const c of this.pending.values()) c.abort();
    this.pending.clear();
    this.tiles.clear();
    this.vmax = 1;
    this.strips = null;
  }

  plotSize() { return { w: this.canvas.width - PLOT_X - RIGHT, h: this.canvas.height - PLOT_Y }; }
  plotX = PLOT_X; plotY = PLOT_Y;  // for tests and the console
  strips: { block: number; received: number[]; entropy: number[]; ranges: Record<string, Record<string, [number, number]>> } | null = null;

  resize() {
    this.canvas.width = Math.max(256, window.innerWidth - 20);
    // Below the controls (one line in a window, two or three in a notebook's narrow frame),
    // above the readout and the status line.
    const top = this.canvas.getBoundingClientRect().top + window.scrollY;
    this.canvas.height = Math.max(256, window.innerHeight - top - 48);
    this.redraw();
  }

  fit() {
    const { w, h } = this.plotSize();
    this.cpp = this.info.spec.n / Math.min(w, h);
    this.x0 = 0; this.y0 = 0;
    this.changed();
  }

  level(): number {
    if (this.cpp <= 1) return 0;
    return Math.min(this.info.coarsest_level, Math.floor(Math.log2(this.cpp)));
  }

  visible() {
    const { w, h } = this.plotSize();
    return { x0: this.x0, y0: this.y0, x1: this.x0 + w * this.cpp, y1: this.y0 + h * this.cpp };
  }

  tileKeys(level: number): string[] {
    const s = this.info.tile_texels * 2 ** level, n = this.info.spec.n, v = this.visible();
    const keys: [number, string][] = [];
    const cx = (v.x0 + v.x1) / 2, cy = (v.y0 + v.y1) / 2;
    for (let ty = Math.max(0, Math.floor(v.y0 / s)); ty * s < Math.min(n, v.y1); ++ty)
      for (let tx = Math.max(0, Math.floor(v.x0 / s)); tx * s < Math.min(n, v.x1); ++tx)
        keys.push([Math.hypot((tx + 0.5) * s - cx, (ty + 0.5) * s - cy), `${level}/${tx}/${ty}`]);
    return keys.sort((a, b) => a[0] - b[0]).map((k) => k[1]);  // nearest the centre first
  }

  changed() {
    this.redraw();
    const wanted = new Set<string>();
    const coarsest = this.info.coarsest_level;
    for (const k of this.tileKeys(coarsest)) wanted.add(k);  // the stand-in for everything
    for (const k of this.tileKeys(this.level())) wanted.add(k);
    for (const [k, c] of this.pending) if (!wanted.has(k)) { c.abort(); this.pending.delete(k); }
    // At most MAX_FETCHES tile requests at once: a browser opens 6 connections per server, and
    // the view messages must not wait behind tiles that are still being computed.
    for (const k of wanted)
      if (!this.tiles.has(k) && !this.pending.has(k) && this.pending.size < MAX_FETCHES && !this.backoff.has(k)) this.fetchTile(k);
    clearTimeout(this.viewTimer);
    this.viewTimer = window.setTimeout(() => this.sendView(), 30);
  }

  sendView() {
    const v = this.visible();
    api(`api/view?client=${client}&x0=${v.x0}&y0=${v.y0}&x1=${v.x1}&y1=${v.y1}&level=${this.level()}`, { method: "POST" }).catch(() => {});
  }

  async fetchTile(key: string) {
    const [level, tx, ty] = key.split("/").map(Number);
    const abort = new AbortController();
    this.pending.set(key, abort);
    const gen = this.info.generation;
    try {
      const r = await fetch(withToken(`api/tile?level=${level}&tx=${tx}&ty=${ty}&gen=${gen}&client=${client}`), { signal: abort.signal });
      if (!r.ok) throw new Error(`${r.status}`);
      const [w, h, col0, row0, per] = (r.headers.get("X-Tile") ?? "").split(" ").map(Number);
      const values = new Float32Array(await r.arrayBuffer());
      if (gen !== this.info.generation) return;
      const t: Tile = { w, h, col0, row0, per, values };
      if (level === this.info.coarsest_level) {
        let m = 0;
        for (let i = this.channel; i < values.length; i += 3) m = Math.max(m, values[i]);
        this.vmax = Math.max(m, 1e-30);
        for (const other of this.tiles.values()) other.canvas = undefined;  // the range moved
      }
      this.tiles.set(key, t);
      this.retries.delete(key);
      this.fetchesDone++;
      this.redraw();
      this.readout();
    } catch (e) {
      // Aborted by us (the view moved on): asked for again when needed. Otherwise cancelled by
      // the server on an older view of ours that reached it after this request (requests
      // travel on several connections), or failed: ask again while the view needs it, a few
      // times, backing off.
      if (!abort.signal.aborted) {
        const tries = (this.retries.get(key) ?? 0) + 1;
        this.retries.set(key, tries);
        if (tries > 8) el("error").textContent = `tile ${key} failed ${tries} times: ${e}`;
        this.backoff.add(key);
        setTimeout(() => { this.backoff.delete(key); this.changed(); }, Math.min(2000, 100 * tries * tries));
      }
    } finally {
      if (this.pending.get(key) === abort) {
        this.pending.delete(key);
        this.changed();  // the next wanted tiles, now that a request slot is free
      }
      this.status();
    }
  }

  colour(t: Tile): HTMLCanvasElement {
    if (t.canvas) return t.canvas;
    const c = document.createElement("canvas");
    c.width = t.w; c.height = t.h;
    const g = c.getContext("2d")!;
    const img = g.createImageData(t.w, t.h);
    // The mapping of shaders/heatmap.frag, so a view here and `attnscope render` of it agree.
    // The range: fixed (?vmin=&vmax=), else the one `render` chooses for the whole map (from
    // the server's sweep), else until the sweep is done, a provisional one from the coarsest tile.
    const chosen = this.strips?.ranges?.[this.channel === 0 ? "max" : "mean"]?.[this.logScale ? "log" : "lin"];
    const vmax = this.fixedRange?.vmax ?? chosen?.[1] ?? this.vmax;
    const vmin = this.fixedRange?.vmin ?? chosen?.[0] ?? (this.logScale ? vmax * 1e-6 : 0);
    const lmin = Math.log(vmin), lspan = Math.max(Math.log(vmax) - lmin, 1e-30), span = Math.max(vmax - vmin, 1e-30);
    for (let i = 0; i < t.w * t.h; ++i) {
      const v = t.values[i * 3 + this.channel], logit = t.values[i * 3 + 2];
      let rgb: number[];
      if (logit < -1e38) rgb = MASKED;
      else {
        let f = this.logScale ? (Math.log(Math.max(v, 1e-38)) - lmin) / lspan : (v - vmin) / span;
        f = Math.min(1, Math.max(0, f));
        rgb = this.lut[Math.floor(f * 255 + 0.5)];
      }
      img.data[i * 4] = rgb[0]; img.data[i * 4 + 1] = rgb[1]; img.data[i * 4 + 2] = rgb[2]; img.data[i * 4 + 3] = 255;
    }
    g.putImageData(img, 0, 0);
    t.canvas = c;
    return c;
  }

  redraw() {
    if (this.frameQueued || !this.info) return;
    this.frameQueued = true;
    requestAnimationFrame(() => { this.frameQueued = false; this.draw(); });
  }

  draw() {
    const g = this.ctx, { w, h } = this.plotSize();
    g.fillStyle = "#fff";
    g.fillRect(0, 0, this.canvas.width, this.canvas.height);
    g.save();
    g.beginPath();
    g.rect(PLOT_X, PLOT_Y, w, h);
    g.clip();
    g.imageSmoothingEnabled = false;
    // Coarse first, finer on top: stand-ins until the exact tiles arrive.
    for (let level = this.info.coarsest_level; level >= this.level(); --level)
      for (const key of this.tileKeys(level)) {
        const t = this.tiles.get(key);
        if (!t) continue;
        const x = PLOT_X + (t.col0 - this.x0) / this.cpp, y = PLOT_Y + (t.row0 - this.y0) / this.cpp;
        g.drawImage(this.colour(t), x, y, (t.w * t.per) / this.cpp, (t.h * t.per) / this.cpp);
      }
    g.restore();
    this.axes();
    this.drawStrips();
  }

  // Above the map, the attention each key receives from all queries (log scale, per block of
  // the sweep); right of it, each row's entropy from 0 to log n. Both from the server's sweep.
  drawStrips() {
    const g = this.ctx, { w, h } = this.plotSize(), st = this.strips;
    g.fillStyle = "#eee";
    g.fillRect(PLOT_X, PLOT_Y - STRIP - 4, w, STRIP);
    g.fillRect(PLOT_X + w + 6, PLOT_Y, STRIP, h);
    g.fillStyle = "#444";
    g.fillText("received", 4, PLOT_Y - 12);
    g.fillText("H", PLOT_X + w + 6 + STRIP / 2 - 3, PLOT_Y - 6);
    if (!st) return;
    const positive = st.received.filter((r) => r > 0);
    const lo = Math.log(Math.min(...positive)), hi = Math.log(Math.max(...positive));
    const logN = Math.log(this.info.spec.n);
    g.fillStyle = "#3b528b";
    for (let px = 0; px < w; ++px) {
      const col = this.x0 + (px + 0.5) * this.cpp, b = Math.floor(col / st.block);
      if (col < 0 || b >= st.received.length) continue;
      const r = st.received[b];
      const f = r > 0 && hi > lo ? (Math.log(r) - lo) / (hi - lo) : 0;
      g.fillRect(PLOT_X + px, PLOT_Y - 4 - f * STRIP, 1, f * STRIP);
    }
    g.fillStyle = "#21918c";
    for (let py = 0; py < h; ++py) {
      const row = this.y0 + (py + 0.5) * this.cpp, b = Math.floor(row / st.block);
      if (row < 0 || b >= st.entropy.length) continue;
      g.fillRect(PLOT_X + w + 6, PLOT_Y + py, (st.entropy[b] / logN) * STRIP, 1);
    }
  }

  axes() {
    const g = this.ctx, { w, h } = this.plotSize(), v = this.visible(), n = this.info.spec.n;
    g.fillStyle = "#222";
    g.font = "11px sans-serif";
    const span = Math.min(v.x1, n) - Math.max(0, v.x0);
    const step = niceStep(span / Math.max(1, w / 90));
    const cellsWide = 1 / this.cpp >= 12 && this.info.tokens > 0;
    for (let c = Math.ceil(Math.max(0, v.x0) / step) * step; c < Math.min(n, v.x1); c += step) {
      const x = PLOT_X + (c + 0.5 - this.x0) / this.cpp;
      g.fillRect(x, PLOT_Y - STRIP - 9, 1, 5);
      g.fillText(String(c), x - 8, PLOT_Y - STRIP - 12);
    }
    for (let r = Math.ceil(Math.max(0, v.y0) / step) * step; r < Math.min(n, v.y1); r += step) {
      const y = PLOT_Y + (r + 0.5 - this.y0) / this.cpp;
      g.fillRect(PLOT_X - 5, y, 5, 1);
      if (!cellsWide) g.fillText(String(r), 4, y + 4);  // else each row is named by its token
    }
    if (cellsWide) {  // token labels for the rows in view
      for (let r = Math.max(0, Math.floor(v.y0)); r < Math.min(n, v.y1); ++r) {
        const t = this.tokenCache.get(r);
        if (t === undefined) { this.loadTokens(Math.floor(v.y0), Math.ceil(v.y1)).catch(() => {}); break; }
        g.fillText(t.slice(0, 8), 4, PLOT_Y + (r + 0.5 - this.y0) / this.cpp + 4);
      }
      // The columns' tokens, written upwards over a light band at the top of the plot.
      const c0 = Math.max(0, Math.floor(v.x0)), c1 = Math.min(n, Math.ceil(v.x1));
      let all = true;
      for (let c = c0; c < c1 && all; ++c) all = this.tokenCache.has(c);
      if (!all) this.loadTokens(c0, c1).catch(() => {});
      else {
        g.save();
        g.beginPath();
        g.rect(PLOT_X, PLOT_Y, w, h);
        g.clip();
        g.fillStyle = "rgba(255, 255, 255, 0.75)";
        g.fillRect(PLOT_X, PLOT_Y, w, 54);
        g.fillStyle = "#222";
        for (let c = c0; c < c1; ++c) {
          g.save();
          g.translate(PLOT_X + (c + 0.5 - this.x0) / this.cpp + 4, PLOT_Y + 50);
          g.rotate(-Math.PI / 2);
          g.fillText(this.tokenCache.get(c)!.slice(0, 8), 0, 0);
          g.restore();
        }
        g.restore();
      }
    }
    g.strokeStyle = "#888";
    g.strokeRect(PLOT_X - 0.5, PLOT_Y - 0.5, w + 1, h + 1);
  }

  tokenLoad: Promise<void> | null = null;
  // One request at a time; a caller waits for the one in flight, then asks for what is still
  // missing. It must wait, not return at once: the hover readout asks again when its tokens
  // have come, and an immediate return while another load was in flight made that a loop of
  // promise callbacks that never let the fetch finish (the page hung).
  async loadTokens(begin: number, end: number) {
    if (this.info.tokens === 0) return;
    while (this.tokenLoad) await this.tokenLoad.catch(() => {});
    begin = Math.max(0, begin); end = Math.min(this.info.tokens, Math.max(end, begin + 1));
    let missing = false;
    for (let i = begin; i < end && !missing; ++i) missing = !this.tokenCache.has(i);
    if (!missing) return;
    this.tokenLoad = (async () => {
      const list: string[] = await (await api(`api/tokens?begin=${begin}&end=${end}`)).json();
      list.forEach((t, i) => this.tokenCache.set(begin + i, t));
      this.redraw();
    })();
    try { await this.tokenLoad; } finally { this.tokenLoad = null; }
  }

  // The finest tile under a cell, and its texel's values.
  probe(col: number, row: number) {
    for (let level = this.level(); level <= this.info.coarsest_level; ++level) {
      const s = this.info.tile_texels * 2 ** level;
      const t = this.tiles.get(`${level}/${Math.floor(col / s)}/${Math.floor(row / s)}`);
      if (!t) continue;
      const x = Math.floor((col - t.col0) / t.per), y = Math.floor((row - t.row0) / t.per);
      if (x < 0 || y < 0 || x >= t.w || y >= t.h) continue;
      const i = (y * t.w + x) * 3;
      return { level, per: t.per, max: t.values[i], mean: t.values[i + 1], logit: t.values[i + 2] };
    }
    return null;
  }

  readout() {
    if (!this.hover) return;
    const col = Math.floor(this.x0 + (this.hover.x - PLOT_X) * this.cpp);
    const row = Math.floor(this.y0 + (this.hover.y - PLOT_Y) * this.cpp);
    const n = this.info.spec.n;
    if (col < 0 || row < 0 || col >= n || row >= n) { el("readout").textContent = ""; return; }
    const p = this.probe(col, row);
    const tok = (i: number) => this.tokenCache.has(i) ? ` "${this.tokenCache.get(i)}"` : "";
    if (this.info.tokens && (!this.tokenCache.has(row) || !this.tokenCache.has(col))) {
      this.loadTokens(row, row + 1).then(() => this.loadTokens(col, col + 1))
        .then(() => { if (this.tokenCache.has(row) && this.tokenCache.has(col)) this.readout(); }).catch(() => {});
    }
    let text = `i = ${row}${tok(row)}, j = ${col}${tok(col)}`;
    if (!p) text += "  (computing)";
    else if (p.logit < -1e38) text += "  masked";
    else if (p.per === 1) text += `  p = ${p.mean.toPrecision(4)}, logit = ${p.logit.toPrecision(5)}`;
    else text += `  block of ${p.per}x${p.per} cells: max p = ${p.max.toPrecision(4)}, mean p = ${p.mean.toPrecision(4)}`;
    el("readout").textContent = text;
  }

  status() {
    const i = this.info;
    el("status").textContent = `level ${this.level()} (${this.cpp < 1 ? (1 / this.cpp).toFixed(1) + " px per cell" : this.cpp.toFixed(1) + " cells per px"})` +
      `  |  tiles ${this.tiles.size} here, ${this.pending.size} coming  |  sweep ${(i.sweep_progress * 100).toFixed(0)} %` +
      `  |  ${(i.spec.n * i.spec.n).toExponential(2)} cells, ${(i.spec.n * i.spec.n * 4 / 1e9).toFixed(1)} GB dense`;
  }

  zoomAt(px: number, py: number, factor: number) {
    const cx = this.x0 + (px - PLOT_X) * this.cpp, cy = this.y0 + (py - PLOT_Y) * this.cpp;
    const { w, h } = this.plotSize();
    const maxCpp = (this.info.spec.n / Math.min(w, h)) * 2;
    this.cpp = Math.min(maxCpp, Math.max(1 / 64, this.cpp * factor));
    this.x0 = cx - (px - PLOT_X) * this.cpp;
    this.y0 = cy - (py - PLOT_Y) * this.cpp;
    this.changed();
    this.readout();
  }

  // The attention controls show the spec the server uses (a capture's layer brings its own
  // mask and window), except while the user is editing one of them.
  shownSpec = "";
  showSpec(s: Spec) {
    const key = JSON.stringify(s);
    if (key === this.shownSpec || ["mask", "window", "qkscale", "temperature", "softcap"].some((id) => document.activeElement === el(id))) return;
    this.shownSpec = key;
    el<HTMLSelectElement>("mask").value = s.mask;
    if (s.window) el<HTMLInputElement>("window").value = String(s.window);
    el<HTMLInputElement>("temperature").value = String(s.temperature);
    el<HTMLInputElement>("qkscale").value = String(Number(s.scale.toPrecision(6)));
    el<HTMLInputElement>("softcap").value = s.softcap === null ? "" : String(s.softcap);
  }

  async select(params: string) {
    try {
      await api(`api/select?${params}`, { method: "POST" });
      el("error").textContent = "";
    } catch (e) {
      el("error").textContent = String(e);
      return;
    }
    this.clearTiles();
    await this.refreshInfo();
    this.changed();
  }

  setRange(vmin: number | null, vmax: number | null) {
    this.fixedRange = vmin !== null && vmax !== null ? { vmin, vmax } : null;
    this.recolour();
  }

  recolour() {
    for (const t of this.tiles.values()) t.canvas = undefined;
    const coarse = [...this.tiles.entries()].find(([k]) => k.startsWith(`${this.info.coarsest_level}/`));
    if (coarse) {
      let m = 0;
      for (let i = this.channel; i < coarse[1].values.length; i += 3) m = Math.max(m, coarse[1].values[i]);
      this.vmax = Math.max(m, 1e-30);
    }
    this.redraw();
  }

  bind() {
    window.addEventListener("resize", () => { this.resize(); this.changed(); });
    this.canvas.addEventListener("wheel", (e) => {
      e.preventDefault();
      this.zoomAt(e.offsetX, e.offsetY, Math.pow(1.0015, e.deltaY));
    }, { passive: false });
    this.canvas.addEventListener("mousedown", (e) => { this.drag = { x: e.offsetX, y: e.offsetY, x0: this.x0, y0: this.y0 }; });
    window.addEventListener("mouseup", () => { this.drag = null; });
    this.canvas.addEventListener("mousemove", (e) => {
      this.hover = { x: e.offsetX, y: e.offsetY };
      if (this.drag) {
        this.x0 = this.drag.x0 - (e.offsetX - this.drag.x) * this.cpp;
        this.y0 = this.drag.y0 - (e.offsetY - this.drag.y) * this.cpp;
        this.changed();
      }
      this.readout();
    });
    el("fit").addEventListener("click", () => this.fit());
    el<HTMLSelectElement>("head").addEventListener("change", (e) => this.select(`head=${(e.target as HTMLSelectElement).value}`));
    el<HTMLSelectElement>("layer").addEventListener("change", (e) => this.select(`layer=${(e.target as HTMLSelectElement).value}`));
    el<HTMLSelectElement>("scale").addEventListener("change", (e) => { this.logScale = (e.target as HTMLSelectElement).value === "log"; this.recolour(); });
    el<HTMLSelectElement>("agg").addEventListener("change", (e) => { this.channel = (e.target as HTMLSelectElement).value === "max" ? 0 : 1; this.recolour(); });
    el<HTMLSelectElement>("colormap").addEventListener("change", (e) => { this.lut = this.luts[(e.target as HTMLSelectElement).value]; this.recolour(); });
    el("apply").addEventListener("click", () => {
      const mask = el<HTMLSelectElement>("mask").value, win = el<HTMLInputElement>("window").value;
      const temp = el<HTMLInputElement>("temperature").value, cap = el<HTMLInputElement>("softcap").value;
      // Only what differs from the server's spec: the rest stays the layer's own.
      const s = this.info.spec, q: string[] = [];
      if (mask !== s.mask || (mask.startsWith("window") && Number(win) !== s.window)) {
        q.push(`mask=${mask}`);
        if (mask.startsWith("window")) q.push(`window=${encodeURIComponent(win)}`);
      }
      if (Number(temp) !== s.temperature) q.push(`temperature=${encodeURIComponent(temp)}`);
      const scale = el<HTMLInputElement>("qkscale").value;
      if (Number(scale) !== Number(s.scale.toPrecision(6))) q.push(`scale=${encodeURIComponent(scale)}`);
      if ((cap === "" ? null : Number(cap)) !== s.softcap) q.push(`softcap=${cap ? encodeURIComponent(cap) : "none"}`);
      if (q.length) this.select(q.join("&"));
    });
  }
}

function niceStep(raw: number): number {
  const p = Math.pow(10, Math.floor(Math.log10(Math.max(raw, 1))));
  for (const m of [1, 2, 5, 10]) if (m * p >= raw) return Math.max(1, m * p);
  return 10 * p;
}

const app = new App();
(window as unknown as { attnscope: App }).attnscope = app;  // for tests and the console
app.start().catch((e) => { el("error").textContent = String(e); });
