#!/usr/bin/env python3
"""Captures 100 000 tokens from a small random model of a real architecture (Qwen2: grouped
query attention, rotary embedding, q/k/v biases) with tools/export_qk.py, and prints JSON:
the time, the capture process's peak memory, the file's size, what a dense map would take,
and with --view the viewer's frame times on the captured file (the same camera path as
bench/zoom_100k.json on synthetic input, under Xvfb).

    .venv/bin/python bench/capture_100k.py                     # about 5 minutes on 2 cores
    .venv/bin/python bench/capture_100k.py --tokens 32768 --view

The model is random, so the figures are the cost of the capture, not of any real model;
a real model of the same shape costs the same per layer run.
"""
import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "python"))


def cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--tokens", type=int, default=100000)
    p.add_argument("--layers", type=int, default=2, help="layers of the model (all are run; the last is captured)")
    p.add_argument("--hidden", type=int, default=256)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--kv-heads", type=int, default=2)
    p.add_argument("--chunk", type=int, default=-1, help="export_qk --chunk (default: its own choice)")
    p.add_argument("--view", action="store_true", help="also open the capture in the viewer (Xvfb) and time frames")
    p.add_argument("--keep", help="keep the capture in this folder")
    a = p.parse_args()

    import torch
    import transformers as tf

    import tiny_models

    work = a.keep or tempfile.mkdtemp(prefix="attnscope-capture-bench-")
    os.makedirs(work, exist_ok=True)
    cfg = tf.Qwen2Config(vocab_size=tiny_models.VOCAB, hidden_size=a.hidden, intermediate_size=4 * a.hidden,
                         num_attention_heads=a.heads, num_key_value_heads=a.kv_heads, num_hidden_layers=a.layers,
                         max_position_embeddings=max(131072, a.tokens), rope_theta=1000000.0, initializer_range=0.1)
    torch.manual_seed(0)
    folder = os.path.join(work, "qwen2-random")
    tf.Qwen2ForCausalLM(cfg).save_pretrained(folder)
    tiny_models._tokenizer("plain").save_pretrained(folder)
    ids = os.path.join(work, "ids.json")
    with open(ids, "w") as f:
        json.dump(tiny_models.token_ids(a.tokens, seed=1), f)
    out = os.path.join(work, "capture.safetensors")
    cmd = [sys.executable, os.path.join(ROOT, "tools", "export_qk.py"), folder, "--token-ids", ids, "--layers", "-1",
           "--out", out]
    if a.chunk >= 0:
        cmd += ["--chunk", str(a.chunk)]
    t0 = time.time()
    r = subprocess.run(cmd, stderr=subprocess.PIPE, text=True)
    seconds = time.time() - t0
    if r.returncode != 0:
        sys.exit(f"capture failed:\n{r.stderr}")
    chunk = next((line.split("chunks of ")[1].split()[0] for line in r.stderr.splitlines() if "chunks of " in line), "0")
    d = a.hidden // a.heads
    result = {
        "cpu": cpu_name(), "cores": os.cpu_count(), "torch": torch.__version__, "transformers": tf.__version__,
        "model": {"architecture": "Qwen2 (random weights)", "layers_run": a.layers, "hidden": a.hidden,
                  "heads": a.heads, "kv_heads": a.kv_heads, "head_dim": d},
        "tokens": a.tokens, "chunk": int(chunk), "capture_seconds": round(seconds, 1),
        "tokens_per_second": round(a.tokens / seconds),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024),
        "file_mib": round(os.path.getsize(out) / 2**20, 1),
        "dense_map_per_head_gib": round(a.tokens ** 2 * 4 / 2**30, 1),
        "command": " ".join(cmd[1:]),
    }
    if a.view:
        stats = os.path.join(work, "viewer-stats.json")
        script = os.path.join(work, "script.json")
        with open(os.path.join(ROOT, "bench", "zoom_100k.json")) as f:
            steps = json.load(f)["steps"]
        with open(script, "w") as f:
            json.dump({"stats": stats, "steps": steps}, f)
        view = ["xvfb-run", "-a", "-s", "-screen 0 1600x1000x24", os.path.join(ROOT, "build", "app", "attnscope"),
                "view", "--qkv", out, "--token-file", os.path.splitext(out)[0] + ".tokens.json", "--script", script]
        v = subprocess.run(view, stderr=subprocess.PIPE, text=True)
        if v.returncode != 0:
            sys.exit(f"viewer failed:\n{v.stderr}")
        with open(stats) as f:
            result["viewer"] = json.load(f)
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
