#!/usr/bin/env python3
"""Capture a Hugging Face model's queries, keys and values for attnscope.

A 100k x 100k attention map is 40 GB per head, but the Q and K it comes from are tens of
megabytes. This tool runs the model on your text and records, for the layers you choose,
Q and K *after* rotary embedding (exactly what the model multiplies) and V; attnscope then
computes every map itself, exactly.

    ./setup.sh capture-env            # once: .venv with pinned transformers (Debian's torch)
    .venv/bin/python tools/export_qk.py ~/models/Qwen2.5-0.5B --text-file essay.txt \\
        --layers 0,12,-1 --out essay.safetensors
    build/app/attnscope view --qkv essay.safetensors --layer 12 --token-file essay.tokens.json

Supported: Llama, Qwen2, Mistral, Gemma-2, Phi-3, GPT-2, GPT-NeoX/Pythia and BERT (see the
README for what was verified for each). Anything else is refused by name.

How: the model (without its language-model head, and without the layers after the last one
asked for) runs over the text in chunks with its KV cache, so memory holds the model, the
cache and one chunk's attention scores, never n x n. Hooks record each chunk's Q, K, V and
stream them to OUT.partial, renamed to OUT at the end (Ctrl-C leaves nothing). The file's
metadata records per layer the mask (causal, bidirectional, sliding window), the scale the
model used, Gemma-2's soft cap and the rotary state; attnscope applies them by default.
Before the long run, the first --check-tokens tokens are captured in two chunks and compared
with the model's own attention weights: a model computed differently is refused, not drawn
wrong.

Works offline: a local model folder, or a hub id already in the Hugging Face cache.
"""
import argparse
import os
import re
import resource
import signal
import sys
import time

# Nothing here may reach the network: a hub id must already be in the local cache.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from attnscope_capture.writer import DTYPES, write_safetensors, write_tokens  # noqa: E402,F401  (re-exported)


def say(msg):
    print(f"export_qk: {msg}", file=sys.stderr, flush=True)


def fail(msg, code=1):
    print(f"export_qk: error: {msg}", file=sys.stderr, flush=True)
    sys.exit(code)


def parse_layers(text, count):
    """'all', '0,5,11', '0-3', '-1' (the last) or a mix; every layer checked against count."""
    if text.strip() == "all":
        return list(range(count))
    layers = []
    for part in text.split(","):
        part = part.strip()
        if re.fullmatch(r"-?\d+", part):
            v = int(part)
            layers.append(v + count if v < 0 else v)
        elif re.fullmatch(r"\d+-\d+", part):
            a, b = map(int, part.split("-"))
            if b < a:
                raise ValueError(f"layer range '{part}' runs backwards")
            layers += range(a, b + 1)
        else:
            raise ValueError(f"'{part}' is not a layer: use numbers (0,5,11), ranges (0-3), -1 for the last, or all")
    for v in layers:
        if not 0 <= v < count:
            raise ValueError(f"layer {v} does not exist: the model has {count} layers (0 to {count - 1}, or -1)")
    return sorted(set(layers))


class Progress:
    """A bar on the terminal (a line every 10 % when stderr is not one)."""

    def __init__(self, label):
        self.label, self.t0, self.tty, self.last = label, time.time(), sys.stderr.isatty(), -1

    def __call__(self, done, total):
        frac = done / max(total, 1)
        elapsed = time.time() - self.t0
        left = elapsed / frac - elapsed if frac > 0 else 0
        text = (f"{self.label} [{'#' * int(frac * 30):<30}] {100 * frac:5.1f}% {done}/{total} tokens, "
                f"{elapsed:.1f} s, {left:.0f} s left")
        if self.tty:
            print("\r" + text, end="" if done < total else "\n", file=sys.stderr, flush=True)
        elif int(frac * 10) != self.last or done == total:
            self.last = int(frac * 10)
            say(text)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog=__doc__.split("\n\n", 1)[1])
    p.add_argument("model", help="a local model folder (config.json, weights, tokenizer) or a hub id in the local cache")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--text", help="the text to run")
    src.add_argument("--text-file", help="a UTF-8 file with the text to run")
    src.add_argument("--token-ids", help="a JSON file with the token ids to run (no tokenizing)")
    p.add_argument("--layers", default="0", help="layers: 0,5,11 or 0-3 or -1 (the last) or all (default 0)")
    p.add_argument("--max-tokens", type=int, default=0, help="cut the text to this many tokens (0: all)")
    p.add_argument("--last-queries", type=int, default=0,
                   help="store only the last M queries (every key): an M x n map of what the end attends to")
    p.add_argument("--out", required=True, help="the .safetensors file to write")
    p.add_argument("--tokens", help="the tokens .json to write (default: OUT with .tokens.json)")
    p.add_argument("--dtype", default="auto", choices=["auto"] + sorted(DTYPES),
                   help="stored precision (default auto: what the model computes in)")
    p.add_argument("--torch-dtype", default="f32", choices=["f32", "bf16", "f16"],
                   help="precision the model runs in (default f32; bf16 halves the memory)")
    p.add_argument("--chunk", type=int, default=-1,
                   help="tokens per prefill chunk (default: the largest whose attention scores fit 512 MiB; "
                        "0: one pass)")
    p.add_argument("--check-tokens", type=int, default=128,
                   help="compare the capture of the first N tokens with the model's own attention weights "
                        "first (default 128; 0 skips it)")
    p.add_argument("--pre-rotary", action="store_true", help="capture Q and K before rotary embedding")
    p.add_argument("--no-special-tokens", action="store_true", help="do not add BOS/CLS/SEP the tokenizer adds")
    p.add_argument("--raw-tokens", action="store_true", help="write the tokenizer's token strings, not decoded text")
    p.add_argument("--device", default="cpu", help="torch device to run the model on (default cpu)")
    a = p.parse_args(argv)

    try:
        import numpy as np  # noqa: F401
        import torch
        import transformers
        from transformers import AutoConfig, AutoModel, AutoTokenizer
    except ImportError as e:
        fail(f"{e.name} is not installed: run ./setup.sh capture-env once, then use .venv/bin/python "
             "(it pins transformers and sees Debian's python3-torch)")
    from attnscope_capture import capture as cap
    from attnscope_capture.families import Unsupported, family_for

    transformers.logging.set_verbosity_error()
    if a.text_file and not os.path.isfile(a.text_file):
        fail(f"text file '{a.text_file}' does not exist")

    # The model's config first: the family, its layers, and what is refused, before any weight loads.
    where = a.model if os.path.isdir(a.model) else f"the Hugging Face cache ({os.environ.get('HF_HOME', '~/.cache/huggingface')})"
    try:
        cfg = AutoConfig.from_pretrained(a.model, local_files_only=True)
    except (OSError, ValueError) as e:
        if os.path.isdir(a.model):
            fail(f"'{a.model}' is not a model folder transformers can read: {str(e).splitlines()[0]}")
        fail(f"'{a.model}' is not a local folder and not in {where}: this tool works offline; download it first "
             "(huggingface-cli download ID) where there is network, or give the model's folder")
    try:
        family = family_for(cfg)
    except Unsupported as e:
        fail(str(e))
    total_layers = cfg.num_hidden_layers
    try:
        layers = parse_layers(a.layers, total_layers)
    except ValueError as e:
        fail(str(e))

    # The tokens.
    tok = None
    try:
        tok = AutoTokenizer.from_pretrained(a.model, local_files_only=True)
    except (OSError, ValueError, TypeError) as e:
        if a.token_ids is None:
            fail(f"the model has no tokenizer transformers can load ({str(e).splitlines()[0]}); give --token-ids")
    if a.token_ids:
        import json

        try:
            with open(a.token_ids, encoding="utf-8") as f:
                ids_list = json.load(f)
            if not isinstance(ids_list, list) or not all(isinstance(i, int) and i >= 0 for i in ids_list):
                raise ValueError("not a JSON array of non-negative integers")
        except (OSError, ValueError) as e:
            fail(f"token ids '{a.token_ids}': {e}")
        vocab = getattr(cfg, "vocab_size", None)
        if vocab and ids_list and max(ids_list) >= vocab:
            fail(f"token ids '{a.token_ids}' holds id {max(ids_list)}, but the vocabulary has {vocab}")
        ids = torch.tensor([ids_list], dtype=torch.long)
    else:
        text = a.text if a.text is not None else open(a.text_file, encoding="utf-8").read()
        ids = tok(text, return_tensors="pt", add_special_tokens=not a.no_special_tokens).input_ids
    if a.max_tokens and ids.shape[1] > a.max_tokens:
        ids = ids[:, : a.max_tokens]
    n = int(ids.shape[1])
    if n == 0:
        fail("the text has no tokens")
    if a.last_queries < 0 or a.last_queries > n:
        fail(f"--last-queries {a.last_queries} is not between 1 and the {n} tokens")
    query_begin = n - a.last_queries if a.last_queries else 0
    chunk = a.chunk if a.chunk >= 0 else cap.auto_chunk(family, cfg, n)
    try:
        family.check(cfg, n, chunk)
    except Unsupported as e:
        fail(str(e))
    if not family.chunked and chunk:
        say(f"{family.name} attends in both directions, so no prefix can run alone: one pass over {n} tokens")
        chunk = 0
    if chunk >= n:
        chunk = 0  # one pass

    # The model: its base (no language-model head), cut after the last layer asked for.
    torch_dtype = {"f32": torch.float32, "bf16": torch.bfloat16, "f16": torch.float16}[a.torch_dtype]
    keep = max(layers) + 1
    cfg.num_hidden_layers = keep
    say(f"loading {a.model}: {family.name}, layers 0-{keep - 1} of {total_layers} (no language-model head), "
        f"{a.torch_dtype}")
    try:
        model = AutoModel.from_pretrained(a.model, config=cfg, torch_dtype=torch_dtype, local_files_only=True,
                                          attn_implementation="eager")
    except (OSError, ValueError, RuntimeError) as e:
        fail(f"cannot load the weights of '{a.model}': {' '.join(str(e).split())[:300]}")
    model.to(a.device).eval()
    if len(family.attention_modules(model)) != keep:
        fail(f"internal: the model has {len(family.attention_modules(model))} layers after cutting, not {keep}")
    ids = ids.to(a.device)
    dtype = a.dtype if a.dtype != "auto" else {"f32": "f32", "bf16": "bf16", "f16": "f16"}[a.torch_dtype]
    tolerance = 1e-4 if a.torch_dtype == "f32" else 3e-2

    name = os.path.basename(os.path.normpath(a.model)) if os.path.isdir(a.model) else a.model
    meta = cap.capture_metadata(family, cfg, name, layers, n, query_begin, dtype, a.torch_dtype, a.pre_rotary, chunk)
    tokens_path = a.tokens or os.path.splitext(a.out)[0] + ".tokens.json"
    out_dir = os.path.dirname(os.path.abspath(a.out))
    if not os.path.isdir(out_dir):
        fail(f"cannot write '{a.out}': folder {out_dir} does not exist")

    cancelled = [False]

    def on_sigint(signum, frame):
        cancelled[0] = True

    signal.signal(signal.SIGINT, on_sigint)
    t0 = time.time()
    try:
        if a.check_tokens > 0:
            m = min(a.check_tokens, n)
            cap.check_capture(model, family, cfg, ids[:, :m], layers, a.pre_rotary, tolerance, say)
        scores = cap.scores_bytes(family, cfg, n, chunk)
        say(f"capturing {n} tokens, layers {','.join(map(str, layers))}: "
            + (f"chunks of {chunk} with the KV cache" if chunk and chunk < n else "one pass")
            + f" (attention scores of one chunk: {scores / 2**20:.0f} MiB); Q/K {'before' if a.pre_rotary else 'after'}"
            + f" rotary, stored as {dtype}" + (f", last {n - query_begin} queries" if query_begin else ""))
        cap.capture_to_file(model, family, cfg, ids, layers, a.out, dtype=dtype, chunk=chunk, query_begin=query_begin,
                            pre_rotary=a.pre_rotary, metadata=meta, progress=Progress("capturing"),
                            cancelled=lambda: cancelled[0])
    except KeyboardInterrupt:
        fail("cancelled; nothing was written", 130)
    except cap.CaptureError as e:
        fail(str(e))
    except ValueError as e:
        fail(str(e))
    except RuntimeError as e:
        msg = str(e).splitlines()[0]
        if "Half" in msg and a.device == "cpu":
            fail(f"this torch cannot run float16 on the CPU ({msg}): use --torch-dtype bf16 or f32")
        if "memory" in msg.lower():
            fail(f"out of memory: {msg}; use a smaller --chunk, --torch-dtype bf16, or fewer tokens")
        fail(msg)
    seconds = time.time() - t0

    id_list = ids[0].tolist()
    if tok is None:
        tokens = [f"#{i}" for i in id_list]
    elif a.raw_tokens:
        tokens = tok.convert_ids_to_tokens(id_list)
    else:
        tokens = tok.batch_decode([[i] for i in id_list])
    write_tokens(tokens_path, tokens)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    say(f"wrote {a.out} and {tokens_path} ({n} tokens) in {seconds:.1f} s; peak memory {peak:.0f} MiB")
    say(f"view it: attnscope view --qkv {a.out} --layer {layers[0]} --token-file {tokens_path}")


def keep_freed_memory():
    """glibc maps each chunk's large tensors (tens to hundreds of MB) fresh from the kernel and
    unmaps them when freed, so every chunk faults in zeroed pages again: most of a capture's
    time went to the kernel. Served from the heap and kept there, a 32k-token capture of the
    bench's Qwen2 took 18.6 s instead of 43 s (sys 9.5 s instead of 50 s; peak memory 1.2 GB
    instead of 0.8; AMD EPYC, 2 cores). glibc reads these settings only when a process starts,
    hence the re-exec; any MALLOC_ variable already set is left alone."""
    if sys.platform.startswith("linux") and not any(k.startswith("MALLOC_") for k in os.environ):
        os.environ["MALLOC_MMAP_MAX_"] = "0"
        os.environ["MALLOC_TRIM_THRESHOLD_"] = str(4 << 30)
        os.execv(sys.executable, [sys.executable] + sys.argv)


if __name__ == "__main__":
    keep_freed_memory()
    main()
