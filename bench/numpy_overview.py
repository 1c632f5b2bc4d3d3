#!/usr/bin/env python3
"""The whole-map overview computed by numpy, as a peer for `attnscope bench`.

Same definition as the engine's tile pass: for a causal map of n x n cells, texel (y, x)
covers query rows [rb[y], rb[y+1]) and keys [cb[x], cb[x+1]) with rb = cb = floor(n t / T);
channel 0 is the max of p_ij over the texel, channel 1 the sum of p_ij over its unmasked
cells divided by all its cells. p = softmax(q k^T / sqrt(d)) per row, masked to j <= i.

Chunked over query rows (each chunk whole texel rows, about `--rows` of them) so memory
stays O(rows x n); the logits are one float32 matrix product per chunk (OpenBLAS where
numpy uses it), the softmax and the pooling are numpy's own vectorised loops.

Prints one JSON line: seconds (best of --repeat), numpy version, BLAS, threads.
"""
import argparse
import json
import os
import sys
import time


def overview(q, k, texels, chunk_rows):
    import numpy as np

    n, d = q.shape
    scale = np.float32(1.0 / np.sqrt(d))
    bounds = (np.arange(texels + 1, dtype=np.int64) * n) // texels
    out = np.zeros((texels, texels, 2), dtype=np.float32)
    cols = np.diff(bounds).astype(np.float32)
    y = 0
    while y < texels:
        y1 = y + 1
        while y1 < texels and bounds[y1 + 1] - bounds[y] <= chunk_rows:
            y1 += 1
        a, b = int(bounds[y]), int(bounds[y1])
        s = q[a:b] @ k[:b].T  # causal: row i sees keys 0..i, all below b
        s *= scale
        i = np.arange(a, b)[:, None]
        s[np.arange(b)[None, :] > i] = -np.inf
        s -= s.max(axis=1, keepdims=True)
        np.exp(s, out=s)
        s /= s.sum(axis=1, keepdims=True)
        # Pool over key blocks (those starting below b; the rest are masked, zero).
        starts = bounds[:-1][bounds[:-1] < b]
        colmax = np.maximum.reduceat(s, starts, axis=1)
        colsum = np.add.reduceat(s, starts, axis=1)
        # Then over the texel rows of this chunk.
        rstarts = bounds[y:y1] - a
        out[y:y1, : len(starts), 0] = np.maximum.reduceat(colmax, rstarts, axis=0)
        rowsum = np.add.reduceat(colsum, rstarts, axis=0)
        cells = np.diff(bounds[y : y1 + 1]).astype(np.float32)[:, None] * cols[None, : len(starts)]
        out[y:y1, : len(starts), 1] = rowsum / cells
        y = y1
    return out


def blas_name(np):
    try:
        from threadpoolctl import threadpool_info  # optional

        for pool in threadpool_info():
            if pool.get("user_api") == "blas":
                return "%s %s (%d threads)" % (pool.get("internal_api"), pool.get("version"), pool.get("num_threads"))
    except Exception:
        pass
    try:
        cfg = np.__config__.get_info("blas_opt_info")
        libs = cfg.get("libraries", [])
        if libs:
            real = os.path.realpath("/usr/lib/x86_64-linux-gnu/libblas.so.3")
            return "%s -> %s" % (",".join(libs), real)
    except Exception:
        pass
    return "unknown"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--q", required=True)
    ap.add_argument("--k", required=True)
    ap.add_argument("--texels", type=int, default=1024)
    ap.add_argument("--rows", type=int, default=512, help="query rows per chunk")
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--out", help="write the overview here (.npy, [T * T, 2] float32: texel y * T + x)")
    a = ap.parse_args()
    try:
        import numpy as np
    except ImportError:
        print(json.dumps({"error": "numpy is not installed for %s" % sys.executable}))
        return 2
    q = np.load(a.q).astype(np.float32, copy=False)
    k = np.load(a.k).astype(np.float32, copy=False)
    best, result = None, None
    for _ in range(max(1, a.repeat)):
        t0 = time.perf_counter()
        result = overview(q, k, a.texels, a.rows)
        dt = time.perf_counter() - t0
        best = dt if best is None else min(best, dt)
    if a.out:
        np.save(a.out, result.reshape(-1, 2))
    print(json.dumps({"seconds": round(best, 3), "numpy": np.__version__, "blas": blas_name(np),
                      "python": sys.version.split()[0], "chunk_rows": a.rows}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
