// The attnscope command on captures as tools/export_qk.py writes them: the metadata's mask,
// window, scale and soft cap per layer, captures of the last queries only, and the options
// that would contradict or guess at what the model computed.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>

#include "compute/npy.h"
#include "tests/cli_support.h"
#include "tests/reference.h"
#include "tests/test_files.h"

namespace fs = std::filesystem;

namespace attnscope::test {
namespace {

// A two-layer capture as export_qk writes it: Q [2 heads, n, d], K and V [1 head, n, d];
// layer 1 is a sliding window of 5 with a soft cap of 3 at scale 1 (Gemma-2 style), and
// its metadata says so. queryBegin > 0 keeps only the last queries.
struct Capture {
  fs::path file;
  uint32_t n, d, queryBegin;
  std::vector<ref::Matrix> q, k;  // per layer: Q rows of every position (the test's truth), K
  ref::Matrix qHead(uint32_t layer, uint32_t h) const {
    return ref::Matrix{n, d, std::vector<float>(q[layer].v.begin() + size_t(h) * n * d, q[layer].v.begin() + size_t(h + 1) * n * d)};
  }
};

Capture writeCapture(const std::string& name, uint32_t n, uint32_t queryBegin) {
  Capture c{scratch() / name, n, 4, queryBegin, {}, {}};
  std::vector<NamedTensor> ts;
  for (uint32_t L = 0; L < 2; ++L) {
    c.q.push_back(ref::randomMatrix(2 * n, c.d, 2.0, 300 + L));
    c.k.push_back(ref::randomMatrix(n, c.d, 2.0, 310 + L));
    std::vector<float> qRows;  // the captured rows only
    for (uint32_t h = 0; h < 2; ++h)
      qRows.insert(qRows.end(), c.q[L].v.begin() + (size_t(h) * n + queryBegin) * c.d, c.q[L].v.begin() + size_t(h + 1) * n * c.d);
    std::string p = "layers." + std::to_string(L) + ".";
    ts.push_back({p + "q", {2, n - queryBegin, c.d}, qRows});
    ts.push_back({p + "k", {1, n, c.d}, c.k[L].v});
  }
  std::string layer = R"({"layer": %L, "q": "layers.%L.q", "k": "layers.%L.k", "heads": 2, "kv_heads": 1, "head_dim": 4, %M,
    "rotary": {"applied": true, "base": 10000.0, "dims": 4, "style": "halves"}})";
  auto fill = [&](std::string s, const std::string& L, const std::string& m) {
    for (size_t at; (at = s.find("%L")) != std::string::npos;) s.replace(at, 2, L);
    return s.replace(s.find("%M"), 2, m);
  };
  std::string meta = R"({"version": 1, "producer": "test", "model": "tiny", "architecture": "Gemma2ForCausalLM",
    "model_type": "gemma2", "tokens": )" + std::to_string(n) + R"(, "query_begin": )" + std::to_string(queryBegin) +
                     R"(, "layout": "hnd", "layers": [)" +
                     fill(layer, "0", R"("mask": "causal", "scale": 0.5)") + ", " +
                     fill(layer, "1", R"("mask": "sliding_window", "window": 5, "scale": 1.0, "softcap": 3.0)") + "]}";
  writeSafetensors(c.file, ts, meta);
  return c;
}

void expectExportEquals(const std::string& args, const ref::Matrix& q, const ref::Matrix& k, const AttentionSpec& spec,
                        uint64_t rowBegin, uint64_t heads = 0, uint32_t plane = 0) {
  fs::path out = scratch() / "capture-p.npy";
  CliRun r = run("export " + args + " -q -o " + out.string());
  ASSERT_EQ(r.exitCode, 0) << args << ": " << r.err;
  std::vector<float> p = npyValues(out);
  uint64_t rows = spec.n - rowBegin;
  ASSERT_EQ(p.size(), (heads ? heads : 1) * rows * spec.n) << args;
  for (uint64_t i = rowBegin; i < spec.n; ++i) {
    std::vector<double> want = ref::probabilityRow(q, k, spec, uint32_t(i));
    for (uint32_t j = 0; j < spec.n; ++j)
      ASSERT_NEAR(p[(plane * rows + i - rowBegin) * spec.n + j], want[j], 1e-5 * want[j] + 1e-7)
          << args << " at " << i << "," << j;
  }
}

TEST(Cli, CaptureMetadataDrawsTheMapTheModelComputed) {
  Capture c = writeCapture("meta.safetensors", 40, 0);
  std::string file = c.file.string();
  AttentionSpec l1;
  l1.n = c.n;
  l1.d = c.d;
  l1.mask = MaskKind::WindowCausal;
  l1.window = 5;
  l1.scale = 1.0;
  l1.softcap = 3.0;
  // Layer 1, head 1 (K head 0): window, scale and cap from the metadata, no option given.
  expectExportEquals("--qkv " + file + " --layer 1 --head 1", c.qHead(1, 1), c.k[1], l1, 0);
  // Layer 0 is plain causal at scale 0.5.
  AttentionSpec l0 = l1;
  l0.mask = MaskKind::Causal;
  l0.scale = 0.5;
  l0.softcap.reset();
  expectExportEquals("--qkv " + file + " --layer 0", c.qHead(0, 0), c.k[0], l0, 0);
  // Every head at once: [heads, n, n].
  expectExportEquals("--qkv " + file + " --layer 1 --all-heads", c.qHead(1, 1), c.k[1], l1, 0, 2, 1);
  // Contradictions are refused, and allowed when asked for.
  expectCleanError("export --qkv " + file + " --layer 1 --mask causal -q", "contradicts the file's metadata for layer 1");
  expectCleanError("export --qkv " + file + " --layer 1 --softcap 30 -q", "--softcap 30 contradicts");
  expectCleanError("export --qkv " + file + " --layer 1 --rope -q", "already rotated");
  AttentionSpec causal = l1;
  causal.mask = MaskKind::Causal;
  expectExportEquals("--qkv " + file + " --layer 1 --head 1 --mask causal --override-metadata", c.qHead(1, 1), c.k[1], causal, 0);
  // info shows it.
  CliRun info = run("info " + file);
  ASSERT_EQ(info.exitCode, 0) << info.err;
  EXPECT_NE(info.out.find("causal sliding window 5, scale 1, soft cap 3"), std::string::npos) << info.out;
}

TEST(Cli, SoftCapOptionMatchesReference) {
  fs::path dir = scratch();
  const uint32_t n = 120, d = 16;
  ref::Matrix q = ref::randomMatrix(n, d, 2.5, 171), k = ref::randomMatrix(n, d, 2.5, 172);
  writeNpy(dir / "qc.npy", q);
  writeNpy(dir / "kc.npy", k);
  AttentionSpec spec;
  spec.n = n;
  spec.d = d;
  spec.mask = MaskKind::Causal;
  spec.scale = 1.0;
  spec.softcap = 2.0;
  spec.temperature = 0.8;
  expectExportEquals("--q " + (dir / "qc.npy").string() + " --k " + (dir / "kc.npy").string() +
                         " --scale 1 --softcap 2 --temperature 0.8", q, k, spec, 0);
  expectCleanError("render --softcap 0 -q", "soft cap must be a positive number");
}

TEST(Cli, ACaptureOfTheLastQueriesIsAnMByNMap) {
  // The last 12 of 40 queries against all 40 keys: exported as [12, 40], the causal mask at
  // the queries' own positions 28..39.
  Capture c = writeCapture("last.safetensors", 40, 28);
  std::string file = c.file.string();
  AttentionSpec l0;
  l0.n = c.n;
  l0.d = c.d;
  l0.mask = MaskKind::Causal;
  l0.scale = 0.5;
  l0.queryBegin = 28;
  expectExportEquals("--qkv " + file + " --layer 0 --head 1", c.qHead(0, 1), c.k[0], l0, 28);
  // --rows within the captured queries still works; rows before them are refused.
  fs::path out = scratch() / "rows.npy";
  CliRun r = run("export --qkv " + file + " --layer 0 --rows 30:35 -q -o " + out.string());
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_EQ(npyValues(out).size(), 5u * 40u);
  expectCleanError("export --qkv " + file + " --rows 0:35 -q", "starts before the first captured query (position 28)");
  CliRun png = run("render --qkv " + file + " -q -o " + (scratch() / "last.png").string());
  EXPECT_EQ(png.exitCode, 0) << png.err;
}

TEST(Cli, OptionsThatDoNothingOrGuessAreRefused) {
  fs::path dir = scratch();
  ref::Matrix q = ref::randomMatrix(20, 4, 1.0, 181);
  writeNpy(dir / "q20.npy", q);
  std::string files = "--q " + (dir / "q20.npy").string() + " --k " + (dir / "q20.npy").string();
  expectCleanError("render " + files + " --tokens 5000 -q", "--tokens describes synthetic input");
  expectCleanError("render " + files + " --preset sink -q", "--preset describes synthetic input");
  expectCleanError("render --layer 3 -q", "--layer applies to inputs from files");
  expectCleanError("render --override-metadata -q", "--override-metadata applies to inputs from files");
  expectCleanError("render --mask none --window 64 -q", "--mask none has no window");
  expectCleanError("render --rope-base 500000 -q", "--rope-base does nothing without --rope");
  // A TransformerLens-style [n, heads, d] capture whose two readings both fit.
  NamedTensor hq = patternTensor("blocks.0.attn.hook_q", {1, 6, 4, 8}), hk = patternTensor("blocks.0.attn.hook_k", {1, 6, 4, 8});
  writeSafetensors(dir / "tl.safetensors", {hq, hk});
  std::string tl = (dir / "tl.safetensors").string();
  expectCleanError("render --qkv " + tl + " -q", "--layout hnd or --layout nhd");
  // A weight matrix is not a query.
  writeSafetensors(dir / "ckpt.safetensors", {patternTensor("model.layers.0.self_attn.q_proj.weight", {64, 64}),
                                             patternTensor("model.layers.0.self_attn.k_proj.weight", {64, 64})});
  std::string ck = (dir / "ckpt.safetensors").string();
  expectCleanError("render --q " + ck + ":model.layers.0.self_attn.q_proj.weight --k " + ck +
                       ":model.layers.0.self_attn.k_proj.weight -q", "is a parameter of the model");
  expectCleanError("render --qkv " + ck + " -q", "is a model checkpoint");
}

}  // namespace
}  // namespace attnscope::test
