"""The Python package at 100 000 tokens (d = 64, causal, the synthetic "mixed" head): seconds
for each call a notebook makes and the process's peak memory, as JSON.

    PYTHONPATH=build/python .venv/bin/python bench/python_map_100k.py [--tokens N]
"""
import argparse
import json
import platform
import resource
import time

import attnscope


def cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            info = f.read()
        name = next(l.split(":", 1)[1].strip() for l in info.splitlines() if l.startswith("model name"))
        flags = next(l for l in info.splitlines() if l.startswith("flags")).split()
        simd = "avx512f" if "avx512f" in flags else "avx2" if "avx2" in flags else "no avx2"
        return f"{name} ({simd})"
    except (OSError, StopIteration):
        return platform.processor()


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--tokens", type=int, default=100_000)
    a = p.parse_args()
    n = a.tokens
    seconds = {}

    def timed(name, call):
        t0 = time.perf_counter()
        out = call()
        seconds[name] = round(time.perf_counter() - t0, 3)
        return out

    q, k, v = timed("synthetic", lambda: attnscope.synthetic(n))
    m = timed("Map", lambda: attnscope.Map(q, k, v))
    timed("render_whole_map_1024", lambda: m.render())
    timed("row_stats", lambda: m.row_stats())
    mid = n * 2 // 5
    timed("probs_256x256", lambda: m.probs(slice(mid, mid + 256), slice(mid - 200, mid + 56)))
    timed("probs_16_rows_all_keys", lambda: m.probs(slice(mid, mid + 16)))
    timed("output_256_rows", lambda: m.output(slice(mid, mid + 256)))
    timed("received", lambda: m.received())
    print(json.dumps({"tokens": n, "d": 64, "mask": "causal", "device": m.device, "host_cpu": cpu_name(),
                      "seconds": seconds,
                      "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}, indent=1))


if __name__ == "__main__":
    main()
