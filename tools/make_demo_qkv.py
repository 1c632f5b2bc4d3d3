#!/usr/bin/env python3
"""Writes a large multi-head Q/K/V file that looks like a real model's, for trying attnscope
on 100k tokens without a model: words of a text as tokens, and 8 heads of d = 128 with
rotary embedding applied, showing the patterns real heads show:

  head 0  previous token          head 4  same word earlier in the text (induction-like)
  head 1  first token (sink)      head 5  local window, wide
  head 2  local window, sharp     head 6  sink plus previous token
  head 3  broad                   head 7  same word, blurred by position

    /usr/bin/python3 tools/make_demo_qkv.py --tokens 100000 --out demo.safetensors
    attnscope view --qkv demo.safetensors --token-file demo.tokens.json

Needs numpy only (Debian's python3-numpy). Values are float16 by default.
"""
import argparse
import os
import re
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import export_qk  # noqa: E402  (the same writer the model export uses)


def rope(x, positions, base=10000.0):
    """Rotates [n, d] by position with rotate_half pairs (c, c + d/2), like Llama."""
    d = x.shape[1]
    inv = base ** (-np.arange(0, d, 2, dtype=np.float64) / d)
    ang = positions[:, None].astype(np.float64) * inv[None, :]
    cos, sin = np.cos(ang), np.sin(ang)
    a, b = x[:, : d // 2].astype(np.float64), x[:, d // 2:].astype(np.float64)
    return np.concatenate([a * cos - b * sin, a * sin + b * cos], axis=1).astype(np.float32)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--tokens", type=int, default=100000, help="sequence length n (default 100000)")
    p.add_argument("--heads", type=int, default=8)
    p.add_argument("--dim", type=int, default=128, help="head dimension d (even)")
    p.add_argument("--text-file", help="words to use as tokens (default: the repository's README, repeated)")
    p.add_argument("--out", default="demo.safetensors")
    p.add_argument("--dtype", default="f16", choices=["f16", "bf16", "f32"])
    p.add_argument("--seed", type=int, default=1)
    a = p.parse_args()
    n, d, H = a.tokens, a.dim, a.heads
    if n < 2 or d < 4 or d % 2:
        sys.exit("make_demo_qkv: error: need --tokens >= 2 and an even --dim >= 4")
    rng = np.random.default_rng(a.seed)
    text_path = a.text_file or os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "README.md")
    words = re.findall(r"[A-Za-z]+|[0-9]+|[^\sA-Za-z0-9]", open(text_path, encoding="utf-8").read())
    if not words:
        sys.exit(f"make_demo_qkv: error: no words in {text_path}")
    tokens = ["<s>"] + [(" " if i % 7 else "") + words[i % len(words)] for i in range(n - 1)]
    vocab = {w: i for i, w in enumerate(sorted(set(t.strip() for t in tokens)))}
    ids = np.array([vocab[t.strip()] for t in tokens])
    embed = rng.standard_normal((len(vocab), d)).astype(np.float32) / np.sqrt(d)
    pos = np.arange(n)
    # A direction only the first token's key has, and a query that looks for it.
    sink = np.zeros(d, np.float32)
    sink[d // 2 - 1] = sink[d - 1] = 1.0  # the lowest rotary frequency: nearly position-free
    sink_key = np.zeros((n, d), np.float32)
    sink_key[0] = sink * 12
    ones = np.ones((n, 1), np.float32)

    def band(width_scale):
        # q_i = R(i) u and k_j = R(j) u: the logit depends on i - j only and peaks at 0; the
        # high rotary frequencies make it sharp, the low ones wide.
        u = np.zeros(d, np.float32)
        lo = int(d // 2 * width_scale)
        u[lo: d // 2] = 1.0
        u[d // 2 + lo:] = 1.0
        return u * np.sqrt(d / max(1, d // 2 - lo)) * 2.2

    q = np.zeros((H, n, d), np.float32)
    k = np.zeros((H, n, d), np.float32)
    for h in range(H):
        kind = h % 8
        print(f"make_demo_qkv: head {h}", file=sys.stderr, flush=True)
        if kind in (0, 6):  # previous token: keys shifted one position forward
            u = band(0.0) * 1.6
            qh, kh = rope(ones * u, pos), rope(ones * u, pos + 1)
            if kind == 6:
                qh += sink * 4
                kh += sink_key
        elif kind == 1:
            qh, kh = ones * sink * 3, sink_key + rng.standard_normal((n, d)).astype(np.float32) * 0.3
        elif kind in (2, 5):
            u = band(0.35 if kind == 2 else 0.75)
            qh, kh = rope(ones * u, pos), rope(ones * u, pos)
        elif kind == 3:
            qh = rng.standard_normal((n, d)).astype(np.float32) * 0.4
            kh = rng.standard_normal((n, d)).astype(np.float32) * 0.4
        else:  # same word: token embeddings, rotated so that nearer copies weigh a little more
            e = embed[ids] * (5.0 if kind == 4 else 3.0)
            qh, kh = rope(e, pos, base=1e6), rope(e, pos, base=1e6)
        q[h], k[h] = qh, kh
    v = rng.standard_normal((H, n, d)).astype(np.float32)
    tensors = {"layers.0.q": q, "layers.0.k": k, "layers.0.v": v}
    print(f"make_demo_qkv: writing {a.out} ({n} tokens, {H} heads, d = {d}, {a.dtype})", file=sys.stderr)
    export_qk.write_safetensors(a.out, tensors, {"producer": "attnscope tools/make_demo_qkv.py", "rotary": "applied",
                                                 "tokens": n}, a.dtype)
    tok_path = os.path.splitext(a.out)[0] + ".tokens.json"
    export_qk.write_tokens(tok_path, tokens)
    print(f"make_demo_qkv: wrote {tok_path}; view: attnscope view --qkv {a.out} --token-file {tok_path}",
          file=sys.stderr)


if __name__ == "__main__":
    main()
