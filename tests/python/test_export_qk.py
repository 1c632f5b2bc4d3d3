"""tools/export_qk.py end to end: Q, K, V captured from a tiny randomly initialised PyTorch
model (Debian's python3-torch), written to .safetensors with its tokens, loaded by attnscope,
whose probabilities must match softmax(QK^T / sqrt(d)) computed by PyTorch from the same
tensors, and the probabilities the model itself used. Without torch the torch tests are
skipped with the reason, and a numpy-only test checks the writer and attnscope against a
float64 CPU reference instead.

    ATTNSCOPE_BINARY=build/app/attnscope /usr/bin/python3 tests/python/test_export_qk.py
"""
import json
import os
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tools"))
sys.path.insert(0, HERE)

try:
    import numpy as np
except ImportError:
    print("SKIPPED: numpy is not installed (apt-get install python3-numpy)")
    sys.exit(77)  # ctest's SKIP_RETURN_CODE

import export_qk  # noqa: E402

try:
    import torch

    HAVE_TORCH = True
except ImportError:
    HAVE_TORCH = False

BINARY = os.environ.get("ATTNSCOPE_BINARY", os.path.join(HERE, "..", "..", "build", "app", "attnscope"))


def attnscope_probs(args, tmp):
    """attnscope export ... -o p.npy; returns the exported [n, n] probabilities."""
    out = os.path.join(tmp, "p.npy")
    if os.path.exists(out):
        os.remove(out)
    r = subprocess.run([BINARY, "export", *args, "-q", "-o", out], capture_output=True, text=True)
    if r.returncode != 0:
        raise AssertionError(f"attnscope export {' '.join(args)} failed: {r.stderr}")
    return np.load(out).astype(np.float64)


def reference_probs(q, k):
    """softmax(q k^T / sqrt(d)) with the causal mask, float64 (numpy)."""
    q, k = np.asarray(q, np.float64), np.asarray(k, np.float64)
    s = q @ k.T / np.sqrt(q.shape[1])
    s[np.triu(np.ones(s.shape, bool), 1)] = -np.inf
    s -= s.max(axis=1, keepdims=True)
    e = np.exp(s)
    return e / e.sum(axis=1, keepdims=True)


def assert_close(test, got, want, rel, abs_, what):
    err = np.abs(got - want) - (rel * np.abs(want) + abs_)
    i, j = np.unravel_index(np.argmax(err), err.shape)
    test.assertLessEqual(err[i, j], 0.0, f"{what}: at ({i}, {j}) got {got[i, j]:.9g}, want {want[i, j]:.9g}")


class WriterWithoutTorch(unittest.TestCase):
    """The CPU-reference fallback: runs whether or not torch is installed."""

    def test_numpy_tensors_round_trip_through_attnscope(self):
        rng = np.random.default_rng(7)
        n, d = 37, 12
        tensors = {f"layers.{L}.{r}": rng.standard_normal((2 if r == "q" else 1, n, d)) * 1.5
                   for L in (3, 8) for r in ("q", "k", "v")}
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "np.safetensors")
            for dtype in ("f32", "f16", "bf16"):
                export_qk.write_safetensors(path, tensors, {"producer": "test"}, dtype)
                self.assertFalse(os.path.exists(path + ".partial"))
                # What the file holds, widened back: the reference computes from exactly that.
                stored = {"f32": np.float32, "f16": np.float16}.get(dtype)
                q = tensors["layers.8.q"][1]
                k = tensors["layers.8.k"][0]
                if stored is not None:
                    q, k = q.astype(stored), k.astype(stored)
                else:  # bf16: attnscope widens the file's bits; read them back from the file
                    q, k = read_bf16(path, "layers.8.q")[1], read_bf16(path, "layers.8.k")[0]
                p = attnscope_probs(["--qkv", path, "--layer", "8", "--head", "1"], tmp)
                assert_close(self, p, reference_probs(q, k), 2e-5, 1e-7, f"numpy {dtype}")

    def test_tokens_file_is_read_with_its_count(self):
        with tempfile.TemporaryDirectory() as tmp:
            tokens = os.path.join(tmp, "t.json")
            export_qk.write_tokens(tokens, ["<s>", " The", "\n", "Ġcat", "é"])
            path = os.path.join(tmp, "x.safetensors")
            rng = np.random.default_rng(3)
            export_qk.write_safetensors(path, {"layers.0.q": rng.standard_normal((1, 5, 4)),
                                               "layers.0.k": rng.standard_normal((1, 5, 4))})
            attnscope_probs(["--qkv", path, "--token-file", tokens], tmp)
            with open(tokens, encoding="utf-8") as f:
                self.assertEqual(json.load(f)[3], "Ġcat")
            export_qk.write_tokens(tokens, ["a", "b"])
            r = subprocess.run([BINARY, "export", "--qkv", path, "--token-file", tokens, "-q", "-o",
                                os.path.join(tmp, "p.npy")], capture_output=True, text=True)
            self.assertEqual(r.returncode, 1)
            self.assertIn("holds 2 tokens but the map has n = 5", r.stderr)

    def test_missing_transformers_or_model_is_one_clear_line(self):
        r = subprocess.run([sys.executable, os.path.join(HERE, "..", "..", "tools", "export_qk.py"),
                            "/no/such/model", "--text", "hi", "--out", "/tmp/x.safetensors"],
                           capture_output=True, text=True)
        self.assertNotEqual(r.returncode, 0)
        self.assertEqual(len(r.stderr.strip().splitlines()), 1, r.stderr)
        self.assertRegex(r.stderr, r"export_qk: error: .*(not installed|not a directory)")


def read_bf16(path, name):
    with open(path, "rb") as f:
        n = int.from_bytes(f.read(8), "little")
        header = json.loads(f.read(n))
        t = header[name]
        f.seek(8 + n + t["data_offsets"][0])
        raw = np.frombuffer(f.read(t["data_offsets"][1] - t["data_offsets"][0]), "<u2")
    return (raw.astype(np.uint32) << 16).view(np.float32).reshape(t["shape"])


@unittest.skipUnless(HAVE_TORCH, "python3-torch is not installed (apt-get install python3-torch); "
                                 "the numpy writer test above checks against the CPU reference instead")
class CaptureFromTinyModel(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        import tiny_llama

        torch.manual_seed(0)
        cls.model = tiny_llama.TinyCausalLM(layers=3, heads=4, kv_heads=2, head_dim=16).eval()
        cls.ids = torch.randint(0, 97, (1, 45))

    def test_post_rotary_q_k_match_what_the_model_used(self):
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "tiny.safetensors")
            captured, facts = export_qk.export(self.model, self.ids, [0, 2], path, dtype="f32", say=lambda m: None)
            self.assertEqual(facts["rotary"], "applied")
            q, k, v = (captured[2][r] for r in ("q", "k", "v"))
            self.assertEqual(tuple(q.shape), (4, 45, 16))
            self.assertEqual(tuple(k.shape), (2, 45, 16))
            self.assertEqual(tuple(v.shape), (2, 45, 16))
            used = self.model.layers[2].self_attn.last_probs[0].double()  # [heads, n, n]
            for head in range(4):
                kv = head // 2  # grouped-query: query head h reads K head h / (4 / 2)
                # PyTorch's softmax(QK^T / sqrt(d)) from the captured tensors ...
                s = (q[head].double() @ k[kv].double().T) / 4.0
                s = s.masked_fill(torch.ones(45, 45, dtype=torch.bool).triu(1), float("-inf"))
                torch_p = torch.softmax(s, dim=-1).numpy()
                # ... is what the model used (so the capture is post-rotary, heads mapped right),
                assert_close(self, torch_p, used[head].numpy(), 0, 2e-6, f"capture vs model, head {head}")
                # and attnscope computes the same from the file.
                p = attnscope_probs(["--qkv", path, "--layer", "2", "--head", str(head)], tmp)
                assert_close(self, p, torch_p, 2e-5, 1e-7, f"attnscope vs torch, head {head}")

    def test_f16_file_matches_torch_on_the_stored_values(self):
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "tiny16.safetensors")
            captured, _ = export_qk.export(self.model, self.ids, [1], path, dtype="f16", say=lambda m: None)
            q = captured[1]["q"][3].half().double()
            k = captured[1]["k"][1].half().double()
            s = (q @ k.T / 4.0).masked_fill(torch.ones(45, 45, dtype=torch.bool).triu(1), float("-inf"))
            p = attnscope_probs(["--qkv", path, "--layer", "1", "--head", "3"], tmp)
            assert_close(self, p, torch.softmax(s, -1).numpy(), 2e-5, 1e-7, "attnscope vs torch, f16 file")

    def test_pre_rotary_capture_with_attnscope_rope_matches_the_model(self):
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "pre.safetensors")
            _, facts = export_qk.export(self.model, self.ids, [1], path, dtype="f32", pre_rotary=True,
                                        say=lambda m: None)
            self.assertEqual(facts["rotary"], "not applied")
            used = self.model.layers[1].self_attn.last_probs[0].double().numpy()
            p = attnscope_probs(["--qkv", path, "--layer", "1", "--head", "2", "--rope"], tmp)
            assert_close(self, p, used[2], 1e-4, 2e-6, "attnscope --rope vs model")

    def test_a_layer_that_does_not_exist_is_refused(self):
        with tempfile.TemporaryDirectory() as tmp:
            with self.assertRaisesRegex(ValueError, "layer 7 does not exist: the model has 3"):
                export_qk.export(self.model, self.ids, [7], os.path.join(tmp, "x.safetensors"), say=lambda m: None)
            self.assertEqual(os.listdir(tmp), [])


if __name__ == "__main__":
    unittest.main(verbosity=2)
