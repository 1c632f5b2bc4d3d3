"""Running a model and recording what its attention layers multiply.

The model runs on the text a chunk at a time with its KV cache, so positions are right
across chunks and memory holds the model, the cache and one chunk's attention scores, never
n x n. While it runs, hooks record for each chosen layer the Q, K and V of the chunk:
Q and K *after* rotary embedding (the modeling module's apply_rotary_pos_emb is wrapped, and
the dimensions it leaves alone come from the projections), V from the projections. The
model is loaded without its language-model head and without the layers after the last one
asked for.
"""
import contextlib
import importlib
import json
import math
import sys

import numpy as np

from .families import Unsupported
from .writer import SafetensorsStream

METADATA_VERSION = 1


class CaptureError(Exception):
    """A capture that cannot go on; the message is one line for the user."""


class Recorder:
    """While active, each forward pass leaves the chosen layers' Q, K, V for its tokens in
    `chunk[layer]` as float32 tensors [heads, c, d] (post-rotary unless pre_rotary)."""

    def __init__(self, model, family, cfg, layers, pre_rotary=False):
        self.model, self.family, self.cfg = model, family, cfg
        self.want = set(layers)
        self.pre_rotary = pre_rotary
        self.attns = family.attention_modules(model)
        self.current = None
        self.store = {layer: {} for layer in layers}
        self.handles, self.patched, self.wrapped = [], [], []

    def __enter__(self):
        for i, attn in enumerate(self.attns):
            self._wrap_attention(i, attn)
            if i in self.want:
                store = self.store[i]
                self.handles += self.family.projection_hooks(attn, self.cfg, _Detaching(store))
        if self.family.rotary(self.cfg) and not self.pre_rotary:
            module = importlib.import_module(self.family.rotary_module)
            original = module.apply_rotary_pos_emb

            def rotated(q, k, *args, **kwargs):
                q_embed, k_embed = original(q, k, *args, **kwargs)
                if self.current in self.want:
                    s = self.store[self.current]
                    s["q_rot"] = q_embed[0].detach().float().clone()
                    s["k_rot"] = k_embed[0].detach().float().clone()
                return q_embed, k_embed

            module.apply_rotary_pos_emb = rotated
            self.patched.append((module, original))
        return self

    def _wrap_attention(self, i, attn):
        original = attn.forward
        family, cfg = self.family, self.cfg

        def forward(*args, **kwargs):
            self.current = i
            mask = kwargs.get("attention_mask")
            if family.mask_in_kwargs and mask is not None:
                fixed = family.fix_mask(cfg, i, mask, kwargs.get("cache_position"), None)
                if fixed is not None:
                    kwargs["attention_mask"] = fixed
            try:
                return original(*args, **kwargs)
            finally:
                self.current = None

        attn.forward = forward
        self.wrapped.append(attn)

    def __exit__(self, *exc):
        for h in self.handles:
            h.remove()
        for module, original in self.patched:
            module.apply_rotary_pos_emb = original
        for attn in self.wrapped:
            del attn.forward
        return False

    def take(self, layer):
        """The chunk's q, k, v of `layer` as float32 numpy [heads, c, d], and clears them."""
        s = self.store[layer]
        missing = [r for r in ("q", "k", "v") if r not in s]
        if missing:
            raise CaptureError(f"layer {layer}: {', '.join(missing)} were not captured: this model's attention "
                               f"is not written the way the {self.family.name} recipe expects")
        q, k = s["q"], s["k"]
        rot = self.family.rotary(self.cfg)
        if rot and not self.pre_rotary:
            if "q_rot" not in s:
                raise CaptureError(f"layer {layer}: apply_rotary_pos_emb was not called: this model's attention "
                                   f"is not written the way the {self.family.name} recipe expects")
            r = s["q_rot"].shape[-1]
            if r != rot["dims"]:
                raise CaptureError(f"layer {layer}: rotary was applied to {r} dimensions, the config says "
                                   f"{rot['dims']}")
            import torch

            q = torch.cat([s["q_rot"], q[..., r:]], dim=-1) if r < q.shape[-1] else s["q_rot"]
            k = torch.cat([s["k_rot"], k[..., r:]], dim=-1) if r < k.shape[-1] else s["k_rot"]
        out = tuple(np.ascontiguousarray(x.numpy(), dtype=np.float32) for x in (q, k, s["v"]))
        s.clear()
        return out


class _Detaching(dict):
    """A dict that stores float32 copies of tensors detached from autograd."""

    def __init__(self, target):
        super().__init__()
        self.target = target

    def __setitem__(self, key, value):
        self.target[key] = value.detach().float().clone()

    def update(self, **kwargs):
        for k, v in kwargs.items():
            self[k] = v


def chunk_bounds(n, chunk, family):
    if not family.chunked or chunk <= 0 or chunk >= n:
        return [(0, n)]
    return [(a, min(a + chunk, n)) for a in range(0, n, chunk)]


def prefill(model, family, input_ids, chunk, on_chunk, cancelled=lambda: False):
    """Runs the model over input_ids [1, n] in chunks with its KV cache; after each chunk
    [p0, p1) calls on_chunk(p0, p1)."""
    import torch

    n = input_ids.shape[1]
    bounds = chunk_bounds(n, chunk, family)
    cache = None
    if len(bounds) > 1 and not family.legacy_cache:
        from transformers import DynamicCache

        cache = DynamicCache()
    past = None
    with torch.no_grad():
        for p0, p1 in bounds:
            if cancelled():
                raise KeyboardInterrupt
            kwargs = {"input_ids": input_ids[:, p0:p1], "attention_mask": torch.ones((1, p1), dtype=torch.long,
                                                                                      device=input_ids.device)}
            if len(bounds) > 1:
                kwargs["use_cache"] = True
                kwargs["past_key_values"] = past if family.legacy_cache else cache
            elif family.chunked:
                kwargs["use_cache"] = False
            out = model(**kwargs)
            if family.legacy_cache and len(bounds) > 1:
                past = out.past_key_values
            del out
            on_chunk(p0, p1)


# ---- metadata ----------------------------------------------------------------------------


def layer_metadata(family, cfg, layer, pre_rotary):
    h, kv, d = family.heads(cfg)
    att = family.layer_attention(cfg, layer)
    rot = family.rotary(cfg)
    entry = {"layer": layer, "q": f"layers.{layer}.q", "k": f"layers.{layer}.k", "v": f"layers.{layer}.v",
             "heads": h, "kv_heads": kv, "head_dim": d, "mask": att["mask"], "scale": float(att["scale"]),
             "rotary": None}
    if att["window"]:
        entry["window"] = int(att["window"])
    if att["softcap"]:
        entry["softcap"] = float(att["softcap"])
    if rot and rot["dims"] >= 2:
        entry["rotary"] = {"applied": not pre_rotary, "base": rot["base"], "dims": rot["dims"],
                           "style": rot["style"], "scaling": rot["scaling"]}
    return entry


def capture_metadata(family, cfg, model_name, layers, n, query_begin, dtype, compute_dtype, pre_rotary, chunk):
    import torch
    import transformers

    return {
        "version": METADATA_VERSION, "producer": "attnscope tools/export_qk.py", "model": model_name,
        "architecture": (getattr(cfg, "architectures", None) or [type(cfg).__name__])[0],
        "model_type": cfg.model_type, "family": family.name, "tokens": n, "query_begin": query_begin,
        "layout": "hnd", "dtype": dtype, "compute_dtype": compute_dtype, "chunk": chunk,
        "transformers": transformers.__version__, "torch": torch.__version__,
        "layers": [layer_metadata(family, cfg, layer, pre_rotary) for layer in layers],
    }


# ---- the reference: what attention the metadata describes, in numpy float64 -------------


def rotate(x, rot):
    """Rotary embedding of x [heads, n, d] at positions 0..n-1, as rotate_half does."""
    x = x.astype(np.float64).copy()
    r = rot["dims"]
    half = r // 2
    inv = rot["base"] ** (-np.arange(0, r, 2, dtype=np.float64) / r)
    ang = np.arange(x.shape[1], dtype=np.float64)[:, None] * inv[None]
    cos, sin = np.cos(ang), np.sin(ang)
    a, b = x[..., :half].copy(), x[..., half:r].copy()
    x[..., :half] = a * cos - b * sin
    x[..., half:r] = b * cos + a * sin
    return x


def probabilities(q, k, entry, query_begin=0):
    """softmax of the logits the metadata entry describes, float64: q [m, d] for positions
    query_begin.., k [n, d]."""
    q, k = np.asarray(q, np.float64), np.asarray(k, np.float64)
    s = q @ k.T * entry["scale"]
    if entry.get("softcap"):
        s = entry["softcap"] * np.tanh(s / entry["softcap"])
    i = np.arange(q.shape[0])[:, None] + query_begin
    j = np.arange(k.shape[0])[None, :]
    allowed = np.ones(s.shape, bool)
    if entry["mask"] in ("causal", "sliding_window"):
        allowed &= j <= i
    if entry["mask"] == "sliding_window":
        allowed &= i - j < entry["window"]
    s = np.where(allowed, s, -np.inf)
    s -= s.max(axis=1, keepdims=True)
    e = np.exp(s)
    return e / e.sum(axis=1, keepdims=True)


def check_capture(model, family, cfg, input_ids, layers, pre_rotary, tolerance, say):
    """Captures the first tokens in two chunks, runs the model once over them with its own
    eager attention weights, and compares every captured layer and head. Returns the largest
    difference; raises CaptureError when it is over `tolerance`."""
    import torch

    n = input_ids.shape[1]
    got = {layer: [[], [], []] for layer in layers}
    with Recorder(model, family, cfg, layers, pre_rotary) as rec:
        def keep(p0, p1):
            for layer in layers:
                for part, x in zip(got[layer], rec.take(layer)):
                    part.append(x)

        prefill(model, family, input_ids, max(1, (n + 1) // 2), keep)
    with torch.no_grad():
        kwargs = {"use_cache": False} if family.chunked else {}
        out = model(input_ids=input_ids, attention_mask=torch.ones_like(input_ids), output_attentions=True, **kwargs)
    worst = (0.0, None)
    for layer in layers:
        q, k = (np.concatenate(parts, axis=1) for parts in got[layer][:2])
        entry = layer_metadata(family, cfg, layer, pre_rotary)
        if pre_rotary and entry["rotary"]:
            q, k = rotate(q, entry["rotary"]), rotate(k, entry["rotary"])
        model_p = out.attentions[layer][0].float().numpy().astype(np.float64)
        group = q.shape[0] // k.shape[0]
        for h in range(q.shape[0]):
            diff = float(np.abs(probabilities(q[h], k[h // group], entry) - model_p[h]).max())
            if diff > worst[0]:
                worst = (diff, (layer, h))
    if worst[0] > tolerance:
        layer, h = worst[1]
        raise CaptureError(
            f"the capture check failed: at layer {layer}, head {h} the probabilities attnscope would draw differ "
            f"from the model's own attention weights by {worst[0]:.3g} (tolerance {tolerance:g}) over the first "
            f"{n} tokens. This model or this transformers version ({_versions()}) computes attention differently "
            f"from the {family.name} recipe; nothing was written")
    say(f"check: the first {n} tokens' attention weights match the model's own within {worst[0]:.2g} "
        f"(every captured layer and head)")
    return worst[0]


def _versions():
    import torch
    import transformers

    return f"transformers {transformers.__version__}, torch {torch.__version__}"


# ---- the capture to a file ---------------------------------------------------------------


def capture_to_file(model, family, cfg, input_ids, layers, out_path, *, dtype, chunk, query_begin=0,
                    pre_rotary=False, metadata=None, progress=None, cancelled=lambda: False):
    """Runs the model over input_ids [1, n] and streams Q (positions query_begin..n-1), K and
    V of `layers` into out_path as they are computed."""
    n = input_ids.shape[1]
    h, kv, d = family.heads(cfg)
    shapes = {}
    for layer in layers:
        shapes[f"layers.{layer}.q"] = (h, n - query_begin, d)
        shapes[f"layers.{layer}.k"] = (kv, n, d)
        shapes[f"layers.{layer}.v"] = (kv, n, d)
    meta = {"format": "pt", "attnscope": json.dumps(metadata, separators=(",", ":")),
            "producer": "attnscope tools/export_qk.py", "tokens": str(n),
            "layers": ",".join(map(str, layers)), "rotary": "not applied" if pre_rotary else "applied"}
    with SafetensorsStream(out_path, shapes, dtype, meta) as out, \
            Recorder(model, family, cfg, layers, pre_rotary) as rec:
        def write(p0, p1):
            for layer in layers:
                q, k, v = rec.take(layer)
                if p1 > query_begin:
                    a = max(p0, query_begin)
                    out.write(f"layers.{layer}.q", q[:, a - p0:], a - query_begin)
                out.write(f"layers.{layer}.k", k, p0)
                out.write(f"layers.{layer}.v", v, p0)
            if progress:
                progress(p1, n)

        prefill(model, family, input_ids, chunk, write, cancelled)
        out.commit()


def scores_bytes(family, cfg, n, chunk, element=4):
    """Memory one chunk's eager attention takes: scores and probabilities, heads x chunk x n."""
    h, _, _ = family.heads(cfg)
    c = n if not family.chunked or chunk <= 0 else min(chunk, n)
    return 3 * h * c * n * element


def auto_chunk(family, cfg, n, budget=512 << 20):
    """The largest power-of-two chunk (16 to 1024) whose attention scores fit the budget."""
    if not family.chunked:
        return 0
    h, _, _ = family.heads(cfg)
    c = 1024
    while c > 16 and 3 * h * c * n * 4 > budget:
        c //= 2
    return c
