#!/usr/bin/env python3
"""Export a Hugging Face causal language model's queries, keys and values for attnscope.

Hugging Face cannot return attention weights at long context (output_attentions forces the
slow eager path, and a 100k x 100k map is 40 GB per head), but Q and K for 100k tokens are
tens of megabytes. This tool runs the model once on your text and captures, for the layers
you choose, Q and K *after* rotary position embedding (exactly what the model multiplies)
and V, through forward hooks. attnscope then computes the maps itself.

    python3 tools/export_qk.py /models/Qwen2-0.5B --text-file essay.txt --layers 0,12,23 \\
        --out essay.safetensors --tokens essay.tokens.json
    attnscope view --qkv essay.safetensors --layer 12 --token-file essay.tokens.json

Writes
  OUT (.safetensors): layers.L.q [heads, n, d], layers.L.k and layers.L.v [kv_heads, n, d]
      (fewer K/V heads than Q heads is grouped-query attention; attnscope maps query head h
      to K head h / (heads / kv_heads)), float16 by default, with metadata naming the model,
      the rotary state and the token count.
  TOKENS (.json): one string per token, as the tokenizer decodes it alone ("--raw-tokens":
      the tokenizer's own token strings, such as "Ġcat").

Works offline from a local model directory (nothing is downloaded). Needs PyTorch and
transformers for loading the model; the writer itself needs only numpy.

How the capture works: attention modules are the modules with q_proj, k_proj and v_proj
(Llama, Mistral, Qwen2, Gemma, and others written the same way). Transformers applies rotary
embedding through a function apply_rotary_pos_emb in the model's modeling module; while the
model runs, that function is wrapped so that its outputs (the rotated Q and K) are recorded
for the layer that called it, and v_proj's output is recorded by a hook. Models without
that function (absolute positions), or with --pre-rotary, get q_proj/k_proj outputs instead;
the metadata says so and attnscope's --rope can rotate them.
"""
import argparse
import contextlib
import json
import os
import struct
import sys

# ---- the .safetensors writer (numpy only) -------------------------------------------------

_DTYPES = {"f32": ("F32", "<f4"), "f16": ("F16", "<f2"), "bf16": ("BF16", None)}


def _as_numpy(x):
    if hasattr(x, "detach"):  # a torch tensor
        x = x.detach().to("cpu")
        import torch

        if x.dtype == torch.bfloat16:
            x = x.float()
        x = x.numpy()
    return x


def _to_bytes(array, dtype):
    import numpy as np

    a = np.ascontiguousarray(_as_numpy(array), dtype=np.float32)
    if not np.isfinite(a).all():
        raise ValueError("non-finite values in the captured tensors")
    if dtype == "bf16":
        # Round to nearest even on the upper 16 bits of each float32.
        bits = a.view(np.uint32).astype(np.uint64)
        bits = (bits + 0x7FFF + ((bits >> 16) & 1)) >> 16
        return bits.astype("<u2").tobytes()
    return a.astype(_DTYPES[dtype][1]).tobytes()


def write_safetensors(path, tensors, metadata=None, dtype="f16"):
    """Writes {name: array [.., n, d]} to path (through path + '.partial', renamed at the end,
    so a failed export leaves nothing behind). Values are stored as dtype: f16, bf16 or f32."""
    if dtype not in _DTYPES:
        raise ValueError(f"unknown dtype {dtype}: use f16, bf16 or f32")
    header, blobs, offset = {}, [], 0
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    for name, array in tensors.items():
        blob = _to_bytes(array, dtype)
        shape = list(_as_numpy(array).shape)
        header[name] = {"dtype": _DTYPES[dtype][0], "shape": shape, "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)  # the data section starts 8-byte aligned
    partial = path + ".partial"
    try:
        with open(partial, "wb") as f:
            f.write(struct.pack("<Q", len(text)))
            f.write(text)
            for b in blobs:
                f.write(b)
        os.replace(partial, path)
    finally:
        if os.path.exists(partial):
            os.remove(partial)


def write_tokens(path, tokens):
    partial = path + ".partial"
    with open(partial, "w", encoding="utf-8") as f:
        json.dump(list(tokens), f, ensure_ascii=False)
    os.replace(partial, path)


# ---- the capture (torch) ------------------------------------------------------------------


def attention_modules(model):
    """The attention modules in layer order: those with q_proj, k_proj and v_proj."""
    return [m for _, m in model.named_modules() if all(hasattr(m, p) for p in ("q_proj", "k_proj", "v_proj"))]


def _head_dim(attn, model):
    for obj in (attn, getattr(attn, "config", None), getattr(model, "config", None)):
        d = getattr(obj, "head_dim", None) if obj is not None else None
        if isinstance(d, int) and d > 0:
            return d
    cfg = model.config
    return cfg.hidden_size // cfg.num_attention_heads


@contextlib.contextmanager
def capture_qkv(model, layers, pre_rotary=False):
    """While active, a forward pass records Q, K (post-rotary unless pre_rotary) and V of the
    given layer indices (0-based, in the order attention_modules returns). Yields a dict
    filled after the forward pass: {layer: {"q": [Hq, n, d], "k": [Hk, n, d], "v": [Hk, n, d]}}
    and a dict of facts for the metadata ("rotary": "applied", "none" or "not applied")."""
    import torch

    attns = attention_modules(model)
    if not attns:
        raise RuntimeError("no attention modules with q_proj, k_proj and v_proj in this model")
    for layer in layers:
        if not 0 <= layer < len(attns):
            raise ValueError(f"layer {layer} does not exist: the model has {len(attns)} (0 to {len(attns) - 1})")
    want = set(layers)
    out = {layer: {} for layer in layers}
    facts = {"rotary": "not applied" if pre_rotary else "applied"}
    current = [None]
    handles, patched = [], []
    index = {id(m): i for i, m in enumerate(attns)}

    def heads_first(x, d):  # [b, n, H*d] -> [H, n, d] (batch 1)
        b, n, hd = x.shape
        return x[0].reshape(n, hd // d, d).transpose(0, 1).contiguous()

    def pre_hook(module, args):
        current[0] = index[id(module)]

    def post_hook(module, args, output):
        current[0] = None

    for i, attn in enumerate(attns):
        handles.append(attn.register_forward_pre_hook(pre_hook))
        handles.append(attn.register_forward_hook(post_hook))
        if i not in want:
            continue
        d = _head_dim(attn, model)
        handles.append(attn.v_proj.register_forward_hook(
            lambda m, a, o, i=i, d=d: out[i].__setitem__("v", heads_first(o.detach().float(), d))))

    modules = {sys.modules[type(a).__module__] for a in attns}
    rotary = [m for m in modules if callable(getattr(m, "apply_rotary_pos_emb", None))]
    if pre_rotary or not rotary:
        if not rotary:
            facts["rotary"] = "none"
        for i in want:
            attn, d = attns[i], _head_dim(attns[i], model)
            handles.append(attn.q_proj.register_forward_hook(
                lambda m, a, o, i=i, d=d: out[i].__setitem__("q", heads_first(o.detach().float(), d))))
            handles.append(attn.k_proj.register_forward_hook(
                lambda m, a, o, i=i, d=d: out[i].__setitem__("k", heads_first(o.detach().float(), d))))
    else:
        for module in rotary:
            original = module.apply_rotary_pos_emb

            def wrapped(q, k, *args, _original=original, **kwargs):
                q_embed, k_embed = _original(q, k, *args, **kwargs)
                layer = current[0]
                if layer in want:
                    # [b, H, n, d] -> [H, n, d]
                    out[layer]["q"] = q_embed[0].detach().float().contiguous()
                    out[layer]["k"] = k_embed[0].detach().float().contiguous()
                return q_embed, k_embed

            module.apply_rotary_pos_emb = wrapped
            patched.append((module, original))
    try:
        with torch.no_grad():
            yield out, facts
    finally:
        for h in handles:
            h.remove()
        for module, original in patched:
            module.apply_rotary_pos_emb = original
    for layer in layers:
        missing = [k for k in ("q", "k", "v") if k not in out[layer]]
        if missing:
            raise RuntimeError(f"layer {layer}: {', '.join(missing)} were not captured; this model's attention "
                               "is written differently (try --pre-rotary)")
        d = _head_dim(attns[layer], model)
        if out[layer]["q"].shape[-1] != d:
            raise RuntimeError(f"layer {layer}: rotary was applied to {out[layer]['q'].shape[-1]} of {d} dimensions "
                               "outside apply_rotary_pos_emb (partial rotary); export with --pre-rotary and use "
                               "attnscope --rope --rope-dims")


def export(model, input_ids, layers, out_path, dtype="f16", pre_rotary=False, metadata=None, say=print):
    """Runs the model once on input_ids [1, n] and writes the chosen layers' Q, K, V."""
    with capture_qkv(model, layers, pre_rotary) as (captured, facts):
        say(f"running the model on {input_ids.shape[1]} tokens")
        model(input_ids=input_ids, use_cache=False)
    tensors = {}
    for layer in layers:
        for role in ("q", "k", "v"):
            tensors[f"layers.{layer}.{role}"] = captured[layer][role]
    meta = {"format": "pt", "producer": "attnscope tools/export_qk.py", "tokens": input_ids.shape[1],
            "layers": ",".join(map(str, layers)), "rotary": facts["rotary"]}
    meta.update(metadata or {})
    say(f"writing {out_path}: layers {meta['layers']}, Q/K {facts['rotary']} rotary, {dtype}")
    write_safetensors(out_path, tensors, meta, dtype)
    return captured, facts


# ---- command line (transformers) ----------------------------------------------------------


def parse_layers(text, count):
    if text == "all":
        return list(range(count))
    layers = []
    for part in text.split(","):
        if "-" in part:
            a, b = part.split("-", 1)
            layers += list(range(int(a), int(b) + 1))
        else:
            layers.append(int(part))
    return [l + count if l < 0 else l for l in layers]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="See the module docstring (python3 -m pydoc tools/export_qk.py) for details.")
    p.add_argument("model", help="a local Hugging Face model directory (config.json, weights, tokenizer)")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--text", help="the text to run")
    src.add_argument("--text-file", help="a UTF-8 file with the text to run")
    p.add_argument("--layers", default="0", help="layers to export: 0,5,11 or 0-3 or all; -1 is the last (default 0)")
    p.add_argument("--max-tokens", type=int, default=0, help="cut the text to this many tokens (0: all)")
    p.add_argument("--out", required=True, help="the .safetensors file to write")
    p.add_argument("--tokens", help="the tokens .json to write (default: OUT with .tokens.json)")
    p.add_argument("--dtype", default="f16", choices=sorted(_DTYPES), help="stored precision (default f16)")
    p.add_argument("--pre-rotary", action="store_true", help="capture Q and K before rotary embedding")
    p.add_argument("--raw-tokens", action="store_true", help="write the tokenizer's token strings, not decoded text")
    p.add_argument("--device", default="cpu", help="torch device to run the model on (default cpu)")
    a = p.parse_args(argv)

    def say(msg):
        print(f"export_qk: {msg}", file=sys.stderr, flush=True)

    try:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer
    except ImportError as e:
        sys.exit(f"export_qk: error: {e.name} is not installed; this tool needs torch and transformers "
                 "(pip install torch transformers)")
    if not os.path.isdir(a.model):
        sys.exit(f"export_qk: error: '{a.model}' is not a directory; give a local model directory "
                 "(this tool works offline and downloads nothing)")
    text = a.text if a.text is not None else open(a.text_file, encoding="utf-8").read()
    say(f"loading {a.model}")
    tok = AutoTokenizer.from_pretrained(a.model, local_files_only=True)
    model = AutoModelForCausalLM.from_pretrained(a.model, local_files_only=True, torch_dtype=torch.float32)
    model.to(a.device).eval()
    ids = tok(text, return_tensors="pt").input_ids
    if a.max_tokens and ids.shape[1] > a.max_tokens:
        ids = ids[:, : a.max_tokens]
    if ids.shape[1] == 0:
        sys.exit("export_qk: error: the text has no tokens")
    layers = parse_layers(a.layers, len(attention_modules(model)))
    try:
        export(model, ids.to(a.device), layers, a.out, a.dtype, a.pre_rotary,
               {"model": os.path.basename(os.path.normpath(a.model)),
                "rope_theta": getattr(model.config, "rope_theta", "")}, say)
    except (RuntimeError, ValueError) as e:
        sys.exit(f"export_qk: error: {e}")
    tokens_path = a.tokens or os.path.splitext(a.out)[0] + ".tokens.json"
    id_list = ids[0].tolist()
    tokens = tok.convert_ids_to_tokens(id_list) if a.raw_tokens else [tok.decode([i]) for i in id_list]
    write_tokens(tokens_path, tokens)
    say(f"wrote {tokens_path} ({len(tokens)} tokens)")
    say(f"view it: attnscope view --qkv {a.out} --layer {layers[0]} --token-file {tokens_path}")


if __name__ == "__main__":
    main()
