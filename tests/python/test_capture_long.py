"""A long capture on one machine: 32 768 tokens from a tiny random Llama in chunks of 256
with the KV cache. The export_qk process's peak memory must stay under MEMORY_BOUND, a
quarter of what the n x n float32 map alone would take (4 GiB), and positions must be right
across chunks: layer 0's keys at the very end equal the model's own key projection of those
tokens rotated by their absolute positions, and attnscope reads the file back.

    ATTNSCOPE_BINARY=build/app/attnscope .venv/bin/python tests/python/test_capture_long.py
"""
import json
import os
import resource
import struct
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tools"))
sys.path.insert(0, HERE)

import numpy as np  # noqa: E402

import tiny_models  # noqa: E402
from attnscope_capture.capture import rotate  # noqa: E402

BINARY = os.environ.get("ATTNSCOPE_BINARY", os.path.join(ROOT, "build", "app", "attnscope"))
N = 32768
MEMORY_BOUND = 1 << 30  # bytes; the n x n float32 map would be 4 GiB


def read_tensor(path, name):
    with open(path, "rb") as f:
        (length,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(length))
        t = header[name]
        a, b = t["data_offsets"]
        f.seek(8 + length + a)
        return np.frombuffer(f.read(b - a), dtype=np.float32).reshape(t["shape"])


class LongContext(unittest.TestCase):
    def test_32k_tokens_in_bounded_memory_with_positions_right_across_chunks(self):
        import torch
        import transformers as tf

        with tempfile.TemporaryDirectory() as tmp:
            cfg = tf.LlamaConfig(vocab_size=tiny_models.VOCAB, hidden_size=32, intermediate_size=64,
                                 num_attention_heads=2, num_key_value_heads=1, num_hidden_layers=1,
                                 max_position_embeddings=65536, rope_theta=10000.0, initializer_range=0.3)
            torch.manual_seed(3)
            model = tf.LlamaForCausalLM(cfg).eval()
            folder = os.path.join(tmp, "model")
            model.save_pretrained(folder)
            tiny_models._tokenizer("bos").save_pretrained(folder)
            ids = tiny_models.token_ids(N, seed=7)
            with open(os.path.join(tmp, "ids.json"), "w") as f:
                json.dump(ids, f)
            out = os.path.join(tmp, "long.safetensors")
            r = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "export_qk.py"), folder, "--token-ids",
                                os.path.join(tmp, "ids.json"), "--chunk", "256", "--dtype", "f32", "--out", out],
                               capture_output=True, text=True)
            self.assertEqual(r.returncode, 0, r.stderr)
            peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
            print(f"32k capture: peak RSS {peak / 2**20:.0f} MiB (bound {MEMORY_BOUND >> 20} MiB)", file=sys.stderr)
            self.assertLess(peak, MEMORY_BOUND)
            self.assertIn("chunks of 256 with the KV cache", r.stderr)

            # Layer 0's keys depend on the token and its position only: k = R(p) k_proj(norm(embed(id))).
            k = read_tensor(out, "layers.0.k")
            self.assertEqual(k.shape, (1, N, 16))
            last = slice(N - 300, N)
            with torch.no_grad():
                x = model.model.embed_tokens(torch.tensor(ids[last]))
                pre = model.model.layers[0].self_attn.k_proj(model.model.layers[0].input_layernorm(x)).numpy()
            full = np.zeros((1, N, 16))
            full[0, last] = pre
            want = rotate(full, {"dims": 16, "base": 10000.0})[0, last]
            self.assertLess(np.abs(k[0, last] - want).max(), 1e-3 * max(1.0, np.abs(want).max()))

            # attnscope reads it: the last rows of the map sum to one and match numpy.
            p_path = os.path.join(tmp, "p.npy")
            r = subprocess.run([BINARY, "export", "--qkv", out, "--rows", f"{N - 4}:{N}", "-q", "-o", p_path],
                               capture_output=True, text=True)
            self.assertEqual(r.returncode, 0, r.stderr)
            p = np.load(p_path).astype(np.float64)
            q = read_tensor(out, "layers.0.q")[0, N - 4:].astype(np.float64)
            s = q @ k[0].astype(np.float64).T / 4.0
            s[np.arange(4)[:, None] + N - 4 < np.arange(N)[None, :]] = -np.inf
            want_p = np.exp(s - s.max(1, keepdims=True))
            want_p /= want_p.sum(1, keepdims=True)
            self.assertLess(np.abs(p - want_p).max(), 1e-5)
            self.assertLess(np.abs(p.sum(1) - 1).max(), 1e-4)


if __name__ == "__main__":
    unittest.main()
