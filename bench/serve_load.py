"""Load on `attnscope serve`: CLIENTS browser-like clients panning and zooming over a map for
SECONDS on loopback, each sending its view and fetching the tiles of that view (nearest the
centre first, as the browser client does), plus one client that vanishes in the middle of its
requests. Prints JSON: requests, tiles, cancellations, errors, tile latency percentiles, the
time to the first whole-map tile, and the server's memory (VmRSS) over the run; exits non-zero
on any error (a 5xx, a refused connection, a malformed tile), unbounded memory, or a server that
no longer answers.

    python3 bench/serve_load.py build/app/attnscope [--tokens 100000] [--clients 8] [--seconds 60]
"""
import argparse
import json
import math
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("binary")
    p.add_argument("--tokens", type=int, default=100000)
    p.add_argument("--clients", type=int, default=8)
    p.add_argument("--seconds", type=float, default=60)
    p.add_argument("--max-rss-growth-mb", type=float, default=512)
    a = p.parse_args()

    server = subprocess.Popen([a.binary, "serve", "--tokens", str(a.tokens), "--port", "0"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    url = None
    t0 = time.time()
    while time.time() - t0 < 120:
        line = server.stdout.readline()
        m = re.search(r"open (http://\S+)", line or "")
        if m:
            url = m.group(1)
            break
        if server.poll() is not None:
            sys.exit("serve exited: " + server.stderr.read())
    if not url:
        sys.exit("serve printed no URL")
    base, token = url.split("/?token=")
    log_lines = []
    threading.Thread(target=lambda: log_lines.extend(server.stderr), daemon=True).start()

    def call(path, method="GET", timeout=300):
        req = urllib.request.Request(f"{base}{path}{'&' if '?' in path else '?'}token={token}", method=method)
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, dict(r.headers), r.read()

    def rss_mb():
        with open(f"/proc/{server.pid}/status") as f:
            return int(next(l for l in f if l.startswith("VmRSS")).split()[1]) / 1024

    info = json.loads(call("/api/info")[2])
    n, coarsest, texels = info["spec"]["n"], info["coarsest_level"], info["tile_texels"]
    t_first = time.time()
    call(f"/api/tile?level={coarsest}&tx=0&ty=0")
    first_tile = time.time() - t_first
    rss_start = rss_mb()

    stats = {"requests": 0, "tiles": 0, "cancelled": 0, "stale": 0, "errors": []}
    latencies = []
    lock = threading.Lock()
    stop_at = time.time() + a.seconds

    def client(cid, vanish=False):
        rng = random.Random(cid)
        cx, cy, cpp = n / 2, n / 2, n / 800
        while time.time() < stop_at:
            # Pan and zoom a little, as a hand on a trackpad does.
            cpp = min(n / 400, max(1 / 16, cpp * math.exp(rng.uniform(-0.7, 0.6))))
            cx = min(n, max(0, cx + rng.uniform(-200, 200) * cpp))
            cy = min(n, max(0, cy + rng.uniform(-200, 200) * cpp))
            x0, y0, x1, y1 = cx - 400 * cpp, cy - 300 * cpp, cx + 400 * cpp, cy + 300 * cpp
            level = 0 if cpp <= 1 else min(coarsest, int(math.log2(cpp)))
            try:
                call(f"/api/view?client={cid}&x0={x0}&y0={y0}&x1={x1}&y1={y1}&level={level}", method="POST")
                s = texels * 2 ** level
                keys = [(math.hypot((tx + .5) * s - cx, (ty + .5) * s - cy), tx, ty)
                        for ty in range(max(0, int(y0 // s)), min(math.ceil(n / s), int(y1 // s) + 1))
                        for tx in range(max(0, int(x0 // s)), min(math.ceil(n / s), int(x1 // s) + 1))]
                for _, tx, ty in sorted(keys)[:6]:
                    t = time.time()
                    timeout = 0.05 if vanish else 300  # the vanishing client gives up at once
                    try:
                        status, headers, body = call(f"/api/tile?level={level}&tx={tx}&ty={ty}&client={cid}",
                                                     timeout=timeout)
                        w, h = map(int, headers["X-Tile"].split()[:2])
                        if len(body) != w * h * 12:
                            raise ValueError(f"tile body of {len(body)} bytes for {w}x{h}")
                        with lock:
                            stats["tiles"] += 1
                            latencies.append(time.time() - t)
                    except urllib.error.HTTPError as e:
                        with lock:
                            if e.code == 410:
                                stats["cancelled"] += 1
                            elif e.code == 409:
                                stats["stale"] += 1
                            else:
                                stats["errors"].append(f"{e.code} {e.read()[:200]!r}")
                    except (TimeoutError, OSError) as e:
                        if not vanish:
                            with lock:
                                stats["errors"].append(repr(e))
                    with lock:
                        stats["requests"] += 1
                    if vanish:
                        return  # gone, with a request in flight
            except urllib.error.HTTPError as e:
                with lock:
                    stats["errors"].append(f"{e.code} {e.read()[:200]!r}")
            except Exception as e:  # noqa: BLE001 - every failure is reported
                with lock:
                    stats["errors"].append(repr(e))

    threads = [threading.Thread(target=client, args=(c + 1,)) for c in range(a.clients)]
    threads.append(threading.Thread(target=client, args=(999, True)))
    rss_peak = rss_start
    for t in threads:
        t.start()
    while any(t.is_alive() for t in threads):
        rss_peak = max(rss_peak, rss_mb())
        time.sleep(0.5)
    status = call("/api/info", timeout=30)[0]
    rss_end = rss_mb()
    server.send_signal(signal.SIGINT)
    code = server.wait(timeout=60)
    latencies.sort()
    pct = lambda q: round(latencies[min(len(latencies) - 1, int(q * len(latencies)))], 3) if latencies else None
    out = {"tokens": n, "clients": a.clients, "seconds": a.seconds, "first_whole_map_tile_seconds": round(first_tile, 2),
           "requests": stats["requests"], "tiles": stats["tiles"], "cancelled": stats["cancelled"],
           "stale": stats["stale"], "errors": stats["errors"][:10], "error_count": len(stats["errors"]),
           "tile_latency_seconds": {"p50": pct(0.5), "p95": pct(0.95), "max": pct(1.0)},
           "server_rss_mb": {"start": round(rss_start), "peak": round(rss_peak), "end": round(rss_end)},
           "server_answers_after": status == 200, "server_exit_code": code,
           "server_log_lines": len(log_lines)}
    print(json.dumps(out, indent=1))
    ok = (not stats["errors"] and status == 200 and code == 0 and stats["tiles"] > 0
          and rss_peak - rss_start < a.max_rss_growth_mb)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
