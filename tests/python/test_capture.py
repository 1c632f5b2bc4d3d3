"""tools/export_qk.py on real transformers models, end to end, as a user runs it.

For every supported family a tiny random-weight model is built from its config class, saved
with save_pretrained next to a tokenizer built with `tokenizers`, and captured by the
export_qk command from that folder (from_pretrained, as for a downloaded model). attnscope
then exports the probabilities of every head of every layer, which must equal the model's
own eager attention weights (output_attentions=True, one pass, no chunks) to 1e-4 absolute,
at 64 tokens and at 1000 tokens captured in chunks of 256 with the KV cache.

    ATTNSCOPE_BINARY=build/app/attnscope .venv/bin/python tests/python/test_capture.py
    .venv/bin/python tests/python/test_capture.py Families.test_gemma2     # one family
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tools"))
sys.path.insert(0, HERE)

import numpy as np  # noqa: E402

import tiny_models  # noqa: E402
from attnscope_capture.writer import write_safetensors  # noqa: E402

BINARY = os.environ.get("ATTNSCOPE_BINARY", os.path.join(ROOT, "build", "app", "attnscope"))
EXPORT_QK = os.path.join(ROOT, "tools", "export_qk.py")
TOLERANCE = 1e-4  # |p_attnscope - p_model|, float32 model and files


def export_qk(*args, env=None, check=True):
    r = subprocess.run([sys.executable, EXPORT_QK, *map(str, args)], capture_output=True, text=True,
                       env={**os.environ, **(env or {})})
    if check and r.returncode != 0:
        raise AssertionError(f"export_qk {' '.join(map(str, args))} failed ({r.returncode}):\n{r.stderr}")
    return r


def attnscope(*args, check=True):
    r = subprocess.run([BINARY, *map(str, args)], capture_output=True, text=True)
    if check and r.returncode != 0:
        raise AssertionError(f"attnscope {' '.join(map(str, args))} failed: {r.stderr}")
    return r


def attnscope_probs(capture, layer, tmp, extra=()):
    """[heads, rows, n] from attnscope export --all-heads."""
    out = os.path.join(tmp, f"p{layer}.npy")
    attnscope("export", "--qkv", capture, "--layer", layer, "--all-heads", "-q", "-o", out, *extra)
    return np.load(out).astype(np.float64)


def model_attention(folder, family, ids):
    """The model's own attention weights for ids, one eager pass: [layers][heads, n, n]."""
    import torch
    import transformers as tf

    cls = tf.BertForMaskedLM if family == "bert" else tf.AutoModelForCausalLM
    model = cls.from_pretrained(folder, attn_implementation="eager", torch_dtype=torch.float32).eval()
    with torch.no_grad():
        kwargs = {} if family == "bert" else {"use_cache": False}
        out = model(input_ids=torch.tensor([ids]), output_attentions=True, **kwargs)
    return [a[0].double().numpy() for a in out.attentions]


def token_ids(folder, text, n, family):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(folder)(text).input_ids[:n]


class Capture(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="attnscope-capture-")
        cls.models = {}

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def model(self, family):
        if family not in self.models:
            self.models[family] = tiny_models.build(family, os.path.join(self.tmp, family))
        return self.models[family]

    def text_file(self, words=1200):
        path = os.path.join(self.tmp, f"text{words}.txt")
        if not os.path.exists(path):
            with open(path, "w") as f:
                f.write(tiny_models.text(words))
        return path


class Families(Capture):
    """Every layer and head of every family against the model's own attention weights."""

    def check_family(self, family):
        folder = self.model(family)
        text = self.text_file()
        with open(text) as f:
            words = f.read()
        cfg = tiny_models.configs()[family][0]
        for n in (64, 1000):
            with self.subTest(n=n):
                out = os.path.join(self.tmp, f"{family}-{n}.safetensors")
                r = export_qk(folder, "--text-file", text, "--max-tokens", n, "--layers", "all", "--dtype", "f32",
                              "--chunk", 256, "--out", out)
                if family != "bert" and n == 1000:
                    self.assertIn("chunks of 256 with the KV cache", r.stderr)
                ids = token_ids(folder, words, n, family)
                self.assertEqual(len(ids), n)
                with open(os.path.splitext(out)[0] + ".tokens.json") as f:
                    self.assertEqual(len(json.load(f)), n)
                want = model_attention(folder, family, ids)
                self.assertEqual(len(want), cfg.num_hidden_layers)
                for layer, model_p in enumerate(want):
                    got = attnscope_probs(out, layer, self.tmp)
                    self.assertEqual(got.shape, model_p.shape)
                    diff = np.abs(got - model_p).max()
                    self.assertLessEqual(diff, TOLERANCE, f"{family} n={n} layer {layer}: max |dp| {diff:.3g}")
                    # The maps are not near-uniform, so a wrong scale or mask could not pass.
                    self.assertGreater(model_p.max(axis=-1).mean(), 3.0 / n)
                meta = json.loads(_metadata(out)["attnscope"])
                self.assertEqual(meta["tokens"], n)
                self.assertEqual(len(meta["layers"]), cfg.num_hidden_layers)
                yield meta

    def test_llama(self):
        for meta in self.check_family("llama"):
            self.assertEqual(meta["layers"][0]["kv_heads"], 2)
            self.assertTrue(meta["layers"][0]["rotary"]["applied"])

    def test_qwen2(self):
        for meta in self.check_family("qwen2"):
            self.assertEqual(meta["layers"][1]["rotary"]["base"], 1000000.0)

    def test_mistral(self):
        for meta in self.check_family("mistral"):
            self.assertEqual((meta["layers"][0]["mask"], meta["layers"][0]["window"]), ("sliding_window", 24))

    def test_gemma2(self):
        for meta in self.check_family("gemma2"):
            local, global_ = meta["layers"][0], meta["layers"][1]
            self.assertEqual((local["mask"], local["window"]), ("sliding_window", 20))
            self.assertEqual(global_["mask"], "causal")
            self.assertEqual(local["softcap"], 3.0)
            self.assertAlmostEqual(local["scale"], 24 ** -0.5)

    def test_phi3(self):
        for meta in self.check_family("phi3"):
            self.assertEqual(meta["layers"][0]["kv_heads"], 2)

    def test_gpt2(self):
        for meta in self.check_family("gpt2"):
            self.assertIsNone(meta["layers"][0]["rotary"])
            self.assertAlmostEqual(meta["layers"][1]["scale"], 1 / (4 * 2))  # 1/sqrt(16) / (layer + 1)

    def test_gpt_neox(self):
        for meta in self.check_family("gpt_neox"):
            self.assertEqual(meta["layers"][0]["rotary"]["dims"], 4)  # rotary_pct 0.25 of 16

    def test_bert(self):
        for meta in self.check_family("bert"):
            self.assertEqual(meta["layers"][0]["mask"], "bidirectional")
            self.assertEqual(meta["chunk"], 0)


def _metadata(path):
    import struct

    with open(path, "rb") as f:
        (length,) = struct.unpack("<Q", f.read(8))
        return json.loads(f.read(length))["__metadata__"]


class Options(Capture):
    """What a user asks of export_qk beyond the defaults, and what it refuses."""

    def test_last_queries_are_an_m_by_n_map(self):
        folder = self.model("llama")
        out = os.path.join(self.tmp, "last.safetensors")
        export_qk(folder, "--text-file", self.text_file(), "--max-tokens", 1000, "--layers", "-1",
                  "--last-queries", 100, "--chunk", 300, "--dtype", "f32", "--out", out)
        with open(self.text_file()) as f:
            ids = token_ids(folder, f.read(), 1000, "llama")
        want = model_attention(folder, "llama", ids)[1][:, 900:, :]
        got = attnscope_probs(out, 1, self.tmp)
        self.assertEqual(got.shape, (4, 100, 1000))
        self.assertLessEqual(np.abs(got - want).max(), TOLERANCE)
        # --rows inside the captured queries keeps working.
        rows = os.path.join(self.tmp, "rows.npy")
        attnscope("export", "--qkv", out, "--layer", 1, "--rows", "950:960", "-q", "-o", rows)
        self.assertLessEqual(np.abs(np.load(rows) - want[0, 50:60]).max(), TOLERANCE)

    def test_pre_rotary_capture_is_rotated_by_attnscope(self):
        folder = self.model("qwen2")
        out = os.path.join(self.tmp, "pre.safetensors")
        export_qk(folder, "--text-file", self.text_file(), "--max-tokens", 300, "--layers", "0,1", "--pre-rotary",
                  "--dtype", "f32", "--out", out)
        with open(self.text_file()) as f:
            ids = token_ids(folder, f.read(), 300, "qwen2")
        want = model_attention(folder, "qwen2", ids)[1]
        self.assertLessEqual(np.abs(attnscope_probs(out, 1, self.tmp) - want).max(), TOLERANCE)
        info = attnscope("info", out).stdout
        self.assertIn("rotary not applied (attnscope applies it)", info)
        r = attnscope("export", "--qkv", out, "--rope", "--rope-base", "10", "-q", "-o", os.path.join(self.tmp, "x.npy"),
                      check=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn("contradicts the file's metadata", r.stderr)

    def test_bf16_model_and_storage(self):
        folder = self.model("gemma2")
        out = os.path.join(self.tmp, "bf16.safetensors")
        r = export_qk(folder, "--text-file", self.text_file(), "--max-tokens", 200, "--layers", "0",
                      "--torch-dtype", "bf16", "--out", out)
        self.assertIn("stored as bf16", r.stderr)
        self.assertIn("BF16", attnscope("info", out).stdout)

    def test_a_hub_id_in_the_local_cache_loads_offline(self):
        cache = os.path.join(self.tmp, "hub")
        snap = os.path.join(cache, "models--tiny--llama", "snapshots", "0123abcd")
        shutil.copytree(self.model("llama"), snap, dirs_exist_ok=True)
        os.makedirs(os.path.join(cache, "models--tiny--llama", "refs"), exist_ok=True)
        with open(os.path.join(cache, "models--tiny--llama", "refs", "main"), "w") as f:
            f.write("0123abcd")
        out = os.path.join(self.tmp, "hub.safetensors")
        env = {"HF_HUB_CACHE": cache, "HF_HOME": os.path.join(self.tmp, "hf-home")}
        export_qk("tiny/llama", "--text", "w1 w2 w3 w4", "--out", out, env=env)
        self.assertIn('"model":"tiny/llama"', _metadata(out)["attnscope"])
        r = export_qk("tiny/absent", "--text", "w1", "--out", out, env=env, check=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn("not a local folder and not in the Hugging Face cache", r.stderr)
        self.assertNotIn("Traceback", r.stderr)

    def test_refusals_are_one_line_without_traceback(self):
        folder = self.model("gpt2")
        out = os.path.join(self.tmp, "refused.safetensors")
        cases = [
            ((folder, "--text", "w1 w2", "--layers", "5"), "layer 5 does not exist: the model has 2"),
            ((folder, "--text", "w1 w2", "--layers", "x"), "is not a layer"),
            ((folder, "--text", tiny_models.text(1100)), "absolute position embeddings for 1024 positions"),
            ((folder, "--text", "w1 w2", "--last-queries", "5"), "--last-queries 5 is not between 1 and the 2"),
            ((os.path.join(self.tmp, "nope"), "--text", "w1"), "not a local folder"),
        ]
        import transformers as tf

        odd = os.path.join(self.tmp, "opt")
        tf.OPTConfig(vocab_size=50, hidden_size=16, num_attention_heads=2, num_hidden_layers=1, ffn_dim=32,
                     word_embed_proj_dim=16).save_pretrained(odd)
        cases.append(((odd, "--token-ids", self.ids_file([1, 2, 3])), "model type 'opt' is not one"))
        rel = os.path.join(self.tmp, "bert-rel")
        cfg = tiny_models.configs()["bert"][0]
        cfg.position_embedding_type = "relative_key"
        cfg.save_pretrained(rel)
        cases.append(((rel, "--token-ids", self.ids_file([7, 8, 9])), "relative-position scores"))
        for args, needle in cases:
            r = export_qk(*args, "--out", out, check=False)
            self.assertEqual(r.returncode, 1, f"{args}: {r.stderr}")
            self.assertIn(needle, r.stderr)
            self.assertNotIn("Traceback", r.stderr)
            self.assertFalse(os.path.exists(out))
            self.assertFalse(os.path.exists(out + ".partial"))
        # -1 is the last layer.
        export_qk(folder, "--text", "w1 w2 w3", "--layers", "-1", "--out", out)
        self.assertEqual(json.loads(_metadata(out)["attnscope"])["layers"][0]["layer"], 1)

    def test_neither_the_head_nor_later_layers_are_loaded(self):
        # A checkpoint whose language-model head and layer 1 are garbage of the wrong shape:
        # loading either would fail, so a capture of layer 0 proves neither is loaded (nor
        # run: no logits over the vocabulary, no work after the last layer asked for).
        import torch
        from safetensors.torch import load_file, save_file

        folder = os.path.join(self.tmp, "llama-trap")
        shutil.copytree(self.model("llama"), folder)
        weights = os.path.join(folder, "model.safetensors")
        state = load_file(weights)
        self.assertIn("lm_head.weight", state)
        for name in list(state):
            if name == "lm_head.weight" or name.startswith("model.layers.1."):
                state[name] = torch.zeros(1, 1)
        save_file(state, weights, metadata={"format": "pt"})
        out = os.path.join(self.tmp, "trap.safetensors")
        r = export_qk(folder, "--text-file", self.text_file(), "--max-tokens", 200, "--layers", "0", "--dtype", "f32",
                      "--out", out)
        self.assertIn("layers 0-0 of 2 (no language-model head)", r.stderr)
        with open(self.text_file()) as f:
            ids = token_ids(self.model("llama"), f.read(), 200, "llama")
        want = model_attention(self.model("llama"), "llama", ids)[0]
        self.assertLessEqual(np.abs(attnscope_probs(out, 0, self.tmp) - want).max(), TOLERANCE)
        r = export_qk(folder, "--text", "w1 w2", "--layers", "1", "--out", out, check=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn("cannot load the weights", r.stderr)
        self.assertNotIn("Traceback", r.stderr)

    def ids_file(self, ids):
        path = os.path.join(self.tmp, f"ids{len(ids)}.json")
        with open(path, "w") as f:
            json.dump(ids, f)
        return path

    def test_ctrl_c_leaves_nothing(self):
        folder = self.model("llama")
        out = os.path.join(self.tmp, "cancel.safetensors")
        ids = self.ids_file(tiny_models.token_ids(20000))
        p = subprocess.Popen([sys.executable, EXPORT_QK, folder, "--token-ids", ids, "--chunk", "64", "--check-tokens",
                              "0", "--out", out], stderr=subprocess.PIPE, text=True)
        for _ in range(600):  # the capture has started writing
            if os.path.exists(out + ".partial"):
                break
            time.sleep(0.05)
        time.sleep(0.3)
        p.send_signal(signal.SIGINT)
        err = p.communicate(timeout=120)[1]
        self.assertEqual(p.returncode, 130, err)
        self.assertIn("cancelled; nothing was written", err)
        self.assertFalse(os.path.exists(out))
        self.assertFalse(os.path.exists(out + ".partial"))


class Writer(unittest.TestCase):
    """The numpy-only writer (also used by tools/make_demo_qkv.py) read back by attnscope."""

    def test_every_dtype_round_trips_through_attnscope(self):
        rng = np.random.default_rng(5)
        q, k = rng.standard_normal((2, 40, 8)), rng.standard_normal((1, 40, 8))
        with tempfile.TemporaryDirectory() as tmp:
            for dtype, tol in (("f32", 1e-5), ("f16", 2e-2), ("bf16", 1e-1)):
                path = os.path.join(tmp, f"{dtype}.safetensors")
                write_safetensors(path, {"layers.0.q": q, "layers.0.k": k}, {"producer": "test"}, dtype)
                got = attnscope_probs(path, 0, tmp, ("--mask", "causal"))
                s = np.einsum("hnd,md->hnm", q, k[0]) / np.sqrt(8)
                s = np.where(np.tril(np.ones((40, 40), bool)), s, -np.inf)
                want = np.exp(s - s.max(-1, keepdims=True))
                want /= want.sum(-1, keepdims=True)
                self.assertLessEqual(np.abs(got - want).max(), tol, dtype)
            with self.assertRaisesRegex(ValueError, "larger than float16 holds"):
                write_safetensors(os.path.join(tmp, "big.safetensors"), {"q": np.full((1, 2, 2), 1e6)}, None, "f16")
            self.assertFalse(os.path.exists(os.path.join(tmp, "big.safetensors.partial")))


if __name__ == "__main__":
    import transformers

    transformers.logging.set_verbosity_error()
    unittest.main()
