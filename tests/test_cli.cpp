// The attnscope command as a user runs it: bad input gets one clear line and a non-zero
// exit (never a crash), and `export` writes probabilities that match the reference.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>

#include <nlohmann/json.hpp>

#include "compute/kernels.h"
#include "compute/npy.h"
#include "tests/cli_support.h"
#include "tests/reference.h"
#include "tests/test_files.h"

namespace fs = std::filesystem;

namespace attnscope::test {
namespace {

TEST(Cli, BadArgumentsGetOneClearLine) {
  expectCleanError("render --tokens 0 -q", "at least 1 (got 0)");
  expectCleanError("render --dim 0 -q", "head dimension must be at least 1");
  expectCleanError("render --dim 1030 -q", "larger than the supported 1024");
  expectCleanError("render --mask window --window 0 -q", "window must be at least 1");
  expectCleanError("render --mask window -q", "needs --window");
  expectCleanError("render --tokens 100 --rows 0:5000 -q", "outside the 100 x 100 map");
  expectCleanError("render --tokens 100 --cols 50:20 -q", "is empty");
  expectCleanError("render --tokens 100 --rows abc -q", "BEGIN:END");
  expectCleanError("render --colormap rainbow -q", "unknown colormap 'rainbow'");
  expectCleanError("render --preset nope -q", "unknown preset 'nope'");
  expectCleanError("render --mask diagonal -q", "unknown mask 'diagonal'");
  expectCleanError("render --agg median -q", "unknown aggregation");
  expectCleanError("render --temperature 0 -q", "temperature must be a positive");
  expectCleanError("render --head 4 --heads 4 -q", "head 4 does not exist");
  expectCleanError("render --tokens 64 --device no-such-gpu -q", "unknown device 'no-such-gpu'");
  expectCleanError("render --tokens 64 -o /no/such/folder/x.png -q", "does not exist");
}

TEST(Cli, NoVulkanDriverSaysWhatToInstall) {
  // As a user runs it, without the validation layer: with it on (as in the other tests) the
  // loader's own diagnostics of the failed instance come through the messenger as well.
  expectCleanError("info", "mesa-vulkan-drivers",
                   "ATTNSCOPE_VALIDATE=0 VK_DRIVER_FILES=/nonexistent.json VK_ICD_FILENAMES=/nonexistent.json");
}

TEST(Cli, HostileNpyFilesAreRejected) {
  fs::path dir = scratch();
  ref::Matrix q = ref::randomMatrix(10, 4, 1.0, 1), k = ref::randomMatrix(10, 4, 1.0, 2);
  writeNpy(dir / "q.npy", q);
  writeNpy(dir / "k.npy", k);
  std::string qk = " --q " + (dir / "q.npy").string() + " --k " + (dir / "k.npy").string();

  {  // truncated data
    std::ifstream in(dir / "q.npy", std::ios::binary);
    std::string all((std::istreambuf_iterator<char>(in)), {});
    std::ofstream(dir / "short.npy", std::ios::binary) << all.substr(0, all.size() - 7);
    expectCleanError("export --q " + (dir / "short.npy").string() + " --k " + (dir / "k.npy").string() + " -q -o " +
                         (dir / "p.npy").string(),
                     "truncated");
    std::ofstream(dir / "magic.npy", std::ios::binary) << "GIF89a" + all.substr(6);
    expectCleanError("export --q " + (dir / "magic.npy").string() + " --k " + (dir / "k.npy").string() + " -q",
                     "wrong magic");
    std::string lying = all;
    lying.replace(lying.find("(10, 4)"), 7, "(99, 4)");
    std::ofstream(dir / "lying.npy", std::ios::binary) << lying;
    expectCleanError("export --q " + (dir / "lying.npy").string() + " --k " + (dir / "k.npy").string() + " -q",
                     "truncated");
    std::string f8 = all;
    f8.replace(f8.find("<f4"), 3, "<f8");
    std::ofstream(dir / "f8.npy", std::ios::binary) << f8;
    expectCleanError("export --q " + (dir / "f8.npy").string() + " --k " + (dir / "k.npy").string() + " -q", "'<f8'");
    std::string huge = all;
    huge.replace(huge.find("(10, 4)"), 7, "(99999999999, 999999999999)");
    std::ofstream(dir / "huge.npy", std::ios::binary) << huge;
    expectCleanError("export --q " + (dir / "huge.npy").string() + " --k " + (dir / "k.npy").string() + " -q",
                     "overflows 64 bits");
  }
  ref::Matrix k5 = ref::randomMatrix(10, 5, 1.0, 3);
  writeNpy(dir / "k5.npy", k5);
  expectCleanError("export --q " + (dir / "q.npy").string() + " --k " + (dir / "k5.npy").string() + " -q",
                   "their last dimensions must match");
  // The viewer shares the loader: the same line, before any window is opened.
  expectCleanError("view --q " + (dir / "q.npy").string() + " --k " + (dir / "k5.npy").string(),
                   "their last dimensions must match");
  ref::Matrix bad = q;
  bad.v[2 * 4 + 3] = std::numeric_limits<float>::quiet_NaN();
  writeNpy(dir / "nan.npy", bad);
  expectCleanError("export --q " + (dir / "nan.npy").string() + " --k " + (dir / "k.npy").string() + " -q",
                   "NaN at row 2, column 3");
  expectCleanError("export --q " + (dir / "missing.npy").string() + " --k " + (dir / "k.npy").string() + " -q",
                   "does not exist");
  expectCleanError("export" + qk + " --rows 0:11 -q", "outside the 10 x 10 map");
  EXPECT_FALSE(fs::exists(dir / "p.npy")) << "a failed export must not leave a file behind";
}

TEST(Cli, SafetensorsHeadsLayoutsAndGroupedQueryAttention) {
  // Q with 4 heads as [heads, n, d] and as [n, heads, d]; K with 2 heads (grouped-query:
  // query heads 2 and 3 read K head 1). The export of head 3 must equal the reference.
  fs::path dir = scratch();
  const uint32_t n = 50, d = 8, hq = 4, hk = 2;
  ref::Matrix qAll = ref::randomMatrix(hq * n, d, 1.5, 151), kAll = ref::randomMatrix(hk * n, d, 1.5, 152);
  std::vector<float> qNhd(size_t(n) * hq * d);
  for (uint32_t h = 0; h < hq; ++h)
    for (uint32_t i = 0; i < n; ++i)
      for (uint32_t c = 0; c < d; ++c) qNhd[(size_t(i) * hq + h) * d + c] = qAll.at(h * n + i, c);
  std::vector<float> kNhd(size_t(n) * hk * d);
  for (uint32_t h = 0; h < hk; ++h)
    for (uint32_t i = 0; i < n; ++i)
      for (uint32_t c = 0; c < d; ++c) kNhd[(size_t(i) * hk + h) * d + c] = kAll.at(h * n + i, c);
  auto header = [](const std::string& name, const std::string& shape, size_t begin, size_t bytes) {
    return "\"" + name + "\": {\"dtype\": \"F32\", \"shape\": " + shape + ", \"data_offsets\": [" +
           std::to_string(begin) + ", " + std::to_string(begin + bytes) + "]}";
  };
  size_t qBytes = qAll.v.size() * 4, kBytes = kAll.v.size() * 4;
  std::string json = "{" + header("layers.0.q", "[4, 50, 8]", 0, qBytes) + ", " +
                     header("layers.0.q_nhd", "[50, 4, 8]", qBytes, qBytes) + ", " +
                     header("layers.0.k", "[2, 50, 8]", 2 * qBytes, kBytes) + ", " +
                     header("layers.0.k_nhd", "[50, 2, 8]", 2 * qBytes + kBytes, kBytes) + "}";
  {
    std::ofstream out(dir / "qk.safetensors", std::ios::binary);
    uint64_t len = json.size();
    for (int i = 0; i < 8; ++i) out.put(char((len >> (8 * i)) & 0xff));
    out << json;
    out.write(reinterpret_cast<const char*>(qAll.v.data()), std::streamsize(qBytes));
    out.write(reinterpret_cast<const char*>(qNhd.data()), std::streamsize(qBytes));
    out.write(reinterpret_cast<const char*>(kAll.v.data()), std::streamsize(kBytes));
    out.write(reinterpret_cast<const char*>(kNhd.data()), std::streamsize(kBytes));
  }
  std::string file = (dir / "qk.safetensors").string();
  ref::Matrix q3{n, d, std::vector<float>(qAll.v.begin() + 3 * n * d, qAll.v.begin() + 4 * n * d)};
  ref::Matrix k1{n, d, std::vector<float>(kAll.v.begin() + 1 * n * d, kAll.v.begin() + 2 * n * d)};
  AttentionSpec spec;
  spec.n = n;
  spec.d = d;
  spec.mask = MaskKind::Causal;
  // --layout applies to every tensor of an input, as one export writes one layout.
  for (auto [qArg, kArg] : {std::pair{file + ":layers.0.q", file + ":layers.0.k"},
                            std::pair{file + ":layers.0.q_nhd --layout nhd", file + ":layers.0.k_nhd"}}) {
    CliRun r = run("export --q " + qArg + " --k " + kArg + " --head 3 -q -o " + (dir / "p.npy").string());
    ASSERT_EQ(r.exitCode, 0) << r.err;
    NpyMatrix p = readNpyMatrix((dir / "p.npy").string(), "p");
    for (uint32_t i = 0; i < n; ++i) {
      std::vector<double> want = ref::probabilityRow(q3, k1, spec, i);
      for (uint32_t j = 0; j < n; ++j) ASSERT_NEAR(p.data[size_t(i) * n + j], want[j], 1e-5 * want[j] + 1e-7) << qArg;
    }
  }
  expectCleanError("export --q " + file + ":layers.0.q --k " + file + ":layers.0.k --head 4 -q", "head 4 does not exist");
  expectCleanError("export --q " + file + ":layers.0.q --k " + file + ":nope -q", "has no tensor 'nope'");
}

// Values that BF16 holds exactly: the low 16 bits of each float cleared.
ref::Matrix bf16Exact(ref::Matrix m) {
  for (float& v : m.v) {
    uint32_t bits;
    std::memcpy(&bits, &v, 4);
    bits &= 0xffff0000u;
    std::memcpy(&v, &bits, 4);
  }
  return m;
}

TEST(Cli, LayersAreFoundByNameAndChosenWithLayer) {
  // Layers 2 and 5, each Q [2 heads, n, d] in BF16 and K [1 head, n, d] in F32 (multi-query),
  // as tools/export_qk.py names them. Layer 5, head 1 must equal the reference whichever way
  // the tensors are named on the command line.
  fs::path dir = scratch();
  const uint32_t n = 40, d = 8;
  std::map<uint32_t, std::pair<ref::Matrix, ref::Matrix>> layers;
  std::vector<NamedTensor> tensors;
  for (uint32_t L : {2u, 5u}) {
    ref::Matrix q = bf16Exact(ref::randomMatrix(2 * n, d, 1.5, 200 + L)), k = ref::randomMatrix(n, d, 1.5, 300 + L);
    tensors.push_back({"layers." + std::to_string(L) + ".q", {2, n, d}, q.v, true});
    tensors.push_back({"layers." + std::to_string(L) + ".k", {1, n, d}, k.v, false});
    tensors.push_back({"layers." + std::to_string(L) + ".v", {1, n, d}, k.v, false});
    layers[L] = {q, k};
  }
  std::string file = (dir / "layers.safetensors").string();
  writeSafetensors(file, tensors);
  AttentionSpec spec;
  spec.n = n;
  spec.d = d;
  spec.mask = MaskKind::Causal;
  auto expectLayer = [&](const std::string& args, uint32_t L, uint32_t head) {
    fs::remove(dir / "p.npy");
    CliRun r = run("export " + args + " -q -o " + (dir / "p.npy").string());
    ASSERT_EQ(r.exitCode, 0) << args << ": " << r.err;
    const ref::Matrix& qa = layers[L].first;
    ref::Matrix q{n, d, std::vector<float>(qa.v.begin() + head * n * d, qa.v.begin() + (head + 1) * n * d)};
    NpyMatrix p = readNpyMatrix((dir / "p.npy").string(), "p");
    for (uint32_t i = 0; i < n; ++i) {
      std::vector<double> want = ref::probabilityRow(q, layers[L].second, spec, i);
      for (uint32_t j = 0; j < n; ++j) ASSERT_NEAR(p.data[size_t(i) * n + j], want[j], 1e-5 * want[j] + 1e-7) << args;
    }
  };
  expectLayer("--qkv " + file + " --layer 5 --head 1", 5, 1);
  expectLayer("--qkv " + file + " --head 1", 2, 1);  // the first layer by default
  expectLayer("--q " + file + ":layers.{layer}.q --k " + file + ":layers.{layer}.k --layer 5 --head 1", 5, 1);
  expectCleanError("export --qkv " + file + " --layer 7 -q", "layer 7 does not exist: '" + file + "' has layers 2, 5");
  expectCleanError("export --q " + file + ":layers.{layer}.q --k " + file + ":layers.{layer}.k --layer 3 -q",
                   "has layers 2, 5");
  expectCleanError("export --q " + file + " --k " + file + ":layers.2.k -q", "names a .safetensors file but not a tensor");
  expectCleanError("export --qkv " + file + " --q " + file + ":layers.2.q -q", "either --qkv FILE or --q/--k/--v");
  CliRun info = run("info " + file);
  ASSERT_EQ(info.exitCode, 0) << info.err;
  EXPECT_NE(info.out.find("layers.5.q"), std::string::npos) << info.out;
  EXPECT_NE(info.out.find("BF16"), std::string::npos) << info.out;
  EXPECT_NE(info.out.find("layer 5"), std::string::npos) << info.out;

  // NaN in layer 5, head 1, row 7, column 3 is reported with head and row when that head is read.
  tensors[3].values[size_t(1 * n + 7) * d + 3] = std::numeric_limits<float>::quiet_NaN();
  writeSafetensors(file, tensors);
  expectCleanError("export --qkv " + file + " --layer 5 --head 1 -q", "NaN at head 1, row 7, column 3");
}

TEST(Cli, InputLargerThanTheDeviceIsRefusedWithTheSizeNeeded) {
  // A 200 GB file that takes no disk (sparse): Q and K of 200 million tokens, F16, d = 256.
  // No device holds them as float32 (400 GB): the error names the size needed before
  // anything is read.
  fs::path file = scratch() / "huge.safetensors";
  const uint64_t n = 200000000, d = 256, bytes = n * d * 2;
  std::string json = "{\"q\": {\"dtype\": \"F16\", \"shape\": [" + std::to_string(n) + ", " + std::to_string(d) + "], \"data_offsets\": [0, " +
                     std::to_string(bytes) + "]}, \"k\": {\"dtype\": \"F16\", \"shape\": [" + std::to_string(n) +
                     ", " + std::to_string(d) + "], \"data_offsets\": [" + std::to_string(bytes) + ", " + std::to_string(2 * bytes) + "]}}";
  {
    std::ofstream out(file, std::ios::binary);
    uint64_t len = json.size();
    for (int i = 0; i < 8; ++i) out.put(char((len >> (8 * i)) & 0xff));
    out << json;
  }
  fs::resize_file(file, 8 + json.size() + 2 * bytes);
  expectCleanError("render --q " + file.string() + ":q --k " + file.string() + ":k -q -o " +
                       (scratch() / "huge.png").string(),
                   "Q, K for 200000000 tokens need 390625 MiB but device");
  fs::remove(file);
}

TEST(Cli, RopeOnTheGpuMatchesRotatedReference) {
  fs::path dir = scratch();
  const uint32_t n = 60, d = 8;
  ref::Matrix q = ref::randomMatrix(n, d, 1.5, 171), k = ref::randomMatrix(n, d, 1.5, 172);
  writeNpy(dir / "q.npy", q);
  writeNpy(dir / "k.npy", k);
  CliRun r = run("export --q " + (dir / "q.npy").string() + " --k " + (dir / "k.npy").string() +
                 " --rope --rope-base 500 -q -o " + (dir / "p.npy").string());
  ASSERT_EQ(r.exitCode, 0) << r.err;
  // The reference rotates in double: pairs (c, c + d/2), angle i * 500^(-2c/d).
  auto rotate = [&](const ref::Matrix& m) {
    ref::Matrix out = m;
    for (uint32_t i = 0; i < n; ++i)
      for (uint32_t c = 0; c < d / 2; ++c) {
        double angle = double(i) * std::pow(500.0, -2.0 * c / d);
        double a = m.at(i, c), b = m.at(i, c + d / 2);
        out.v[size_t(i) * d + c] = float(a * std::cos(angle) - b * std::sin(angle));
        out.v[size_t(i) * d + c + d / 2] = float(a * std::sin(angle) + b * std::cos(angle));
      }
    return out;
  };
  ref::Matrix qr = rotate(q), kr = rotate(k);
  AttentionSpec spec;
  spec.n = n;
  spec.d = d;
  spec.mask = MaskKind::Causal;  // the command line's default mask
  NpyMatrix p = readNpyMatrix((dir / "p.npy").string(), "p");
  for (uint32_t i = 0; i < n; ++i) {
    std::vector<double> want = ref::probabilityRow(qr, kr, spec, i);
    for (uint32_t j = 0; j < n; ++j) ASSERT_NEAR(p.data[size_t(i) * n + j], want[j], 2e-5 * want[j] + 1e-7) << i << "," << j;
  }
}

TEST(Cli, CtrlCCancelsLongWorkAndWritesNothing) {
  fs::path out = scratch() / "cancelled.png";
  // SIGINT after 2 s, well inside a 100 000-token whole-map render (about 20 s on lavapipe).
  CliRun r = run("render --tokens 100000 -q -o " + out.string(), "timeout --preserve-status -s INT 2");
  EXPECT_EQ(r.exitCode, 130) << r.err;
  EXPECT_NE(r.err.find("cancelled"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(out));
  EXPECT_FALSE(fs::exists(out.string() + ".partial"));
}

TEST(Cli, ExportMatchesReference) {
  // The example: causal window 64, temperature 0.7, the whole map.
  fs::path dir = scratch();
  const uint32_t n = 300, d = 32;
  ref::Matrix q = ref::randomMatrix(n, d, 1.5, 91), k = ref::randomMatrix(n, d, 1.5, 92);
  writeNpy(dir / "q.npy", q);
  writeNpy(dir / "k.npy", k);
  std::string base = "export --q " + (dir / "q.npy").string() + " --k " + (dir / "k.npy").string() +
                     " --mask causal --window 64 --temperature 0.7 -q";
  CliRun r = run(base + " --out " + (dir / "p.npy").string());
  ASSERT_EQ(r.exitCode, 0) << r.err;
  CliRun rl = run(base + " --logits --rows 10:250 --cols 5:200 --out " + (dir / "s.npy").string());
  ASSERT_EQ(rl.exitCode, 0) << rl.err;

  AttentionSpec spec;
  spec.n = n;
  spec.d = d;
  spec.mask = MaskKind::WindowCausal;
  spec.window = 64;
  spec.temperature = 0.7;
  NpyMatrix p = readNpyMatrix((dir / "p.npy").string(), "exported p");
  ASSERT_EQ(p.rows, n);
  ASSERT_EQ(p.cols, n);
  double worstRel = 0;
  for (uint32_t i = 0; i < n; ++i) {
    std::vector<double> want = ref::probabilityRow(q, k, spec, i);
    for (uint32_t j = 0; j < n; ++j) {
      double got = p.data[size_t(i) * n + j];
      if (want[j] == 0) {
        ASSERT_EQ(got, 0.0) << "masked cell " << i << "," << j;
      } else if (want[j] > 1e-30) {
        worstRel = std::max(worstRel, std::abs(got - want[j]) / want[j]);
      }
    }
  }
  EXPECT_LE(worstRel, 1e-5) << "export must match the reference to 1e-5 relative";

  NpyMatrix s = readNpyMatrix((dir / "s.npy").string(), "exported logits", true);
  ASSERT_EQ(s.rows, 240u);
  ASSERT_EQ(s.cols, 195u);
  for (uint32_t i = 10; i < 250; ++i)
    for (uint32_t j = 5; j < 200; ++j) {
      double got = s.data[size_t(i - 10) * 195 + (j - 5)];
      if (!ref::unmasked(spec, i, j)) {
        ASSERT_TRUE(std::isinf(got) && got < 0) << "masked logit " << i << "," << j;
      } else {
        double want = ref::logit(q, k, spec, i, j);
        ASSERT_NEAR(got, want, 1e-5 * std::max(1.0, std::abs(want)));
      }
    }
}

}  // namespace
}  // namespace attnscope::test

namespace attnscope::test {
namespace {

TEST(Cli, QuickBenchNamesTheHostAndItsKernelsAndAgreesWithTheNumpyPeer) {
  // The figures say where they were taken and with which kernels; the side-by-side overview
  // agrees texel by texel with an independent numpy computation of the same overview (or,
  // without numpy, says why it was skipped).
  CliRun r = run("bench --quick --no-overview");
  ASSERT_EQ(r.exitCode, 0) << r.err;
  nlohmann::json j = nlohmann::json::parse(r.out);
  EXPECT_NE(j.value("host_cpu", "").find("threads"), std::string::npos) << j["host_cpu"];
  for (const char* shape : {"long", "medium", "narrow", "short"})
    EXPECT_NO_THROW(BlockStatsVariant::parse(j["block_stats_kernels"]["chosen"][shape].get<std::string>())) << shape;
  // Tuned against untuned row statistics in the same run, or why not.
  const nlohmann::json& speedup = j["row_stats_tuning_speedup"];
  if (speedup.is_object()) {
    EXPECT_FALSE(speedup.value("skipped", "").empty()) << speedup;
  } else {
    ASSERT_EQ(speedup.size(), j["row_stats"].size()) << speedup;
    ASSERT_EQ(j["row_stats_untuned"].size(), j["row_stats"].size());
    for (size_t i = 0; i < speedup.size(); ++i)
      EXPECT_NEAR(speedup[i]["tuned_over_untuned"].get<double>(),
                  j["row_stats"][i]["gflops"].get<double>() / j["row_stats_untuned"][i]["gflops"].get<double>(), 2e-3)
          << speedup;
  }
  const nlohmann::json& peer = j["numpy_peer"];
  if (peer.contains("skipped")) {
    EXPECT_NE(peer["skipped"].get<std::string>().find("numpy"), std::string::npos) << peer;
    return;
  }
  ASSERT_EQ(peer["sizes"].size(), 1u) << peer;
  const nlohmann::json& s = peer["sizes"][0];
  EXPECT_EQ(s["agreement"]["texels_differing"], 0) << s;
  EXPECT_EQ(s["agreement"]["texels"], 1024 * 1024) << s;
  EXPECT_GT(s["attnscope_seconds"].get<double>(), 0.0);
  EXPECT_GT(s["numpy_seconds"].get<double>(), 0.0);
}

}  // namespace
}  // namespace attnscope::test
