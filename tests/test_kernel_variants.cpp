// The block_stats variants the tuner chooses from, each against the double-precision
// reference (row statistics with the entropy, one key per texel, blocks of several keys;
// causal, and a two-sided window with a soft cap), on the shuffle path and the portable one;
// and the tuner's cache: timed once, read back, timed again for a corrupt file, another
// driver or a variant name it no longer knows.
//
// Tolerances as in test_attention.cpp: log-sum-exp and row max 2e-5 * max(1, |ref|), row
// entropy 5e-5 * max(1, ref), aggregated p 2e-5 * ref + 1e-7.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <thread>
#include <filesystem>
#include <fstream>
#include <memory>
#include <utility>

#include <nlohmann/json.hpp>

#include "compute/head_data.h"
#include "compute/helper_devices.h"
#include "engine/buffer.h"
#include "engine/context.h"
#include "compute/kernel_tuner.h"
#include "engine/error.h"
#include "tests/gpu_fixture.h"
#include "tests/test_files.h"

namespace fs = std::filesystem;

namespace attnscope::test {
namespace {

TEST(KernelVariants, NamesRoundTripAndMistakesAreRefused) {
  const BlockStatsVariant some[] = {{4, 64, true, 0}, {16, 128, false, 8}, {8, 64, true, 1, true}, {2, 32, false, 0, true}};
  for (const BlockStatsVariant& v : some) EXPECT_EQ(BlockStatsVariant::parse(v.name()), v) << v.name();
  const BlockStatsVariant chunked{8, 64, true, 8};
  EXPECT_EQ(chunked.name(), "r8.wg64.shuffle.c8");
  EXPECT_EQ((BlockStatsVariant{8, 64, true, 1, true}.name()), "r8.wg64.shuffle.c1.tb");
  for (const char* bad : {"", "r4", "r4.wg64.shuffle", "r4.wg64.warp.c0", "r4.wg64.shuffle.c0x", "x4.wg64.shuffle.c0",
                          "r4.wg64.shuffle.c0.tx", "r4.wg64.shuffle.c0tb", "r4.wg64.shuffle.c0.tb.tb"})
    EXPECT_THROW(BlockStatsVariant::parse(bad), Error) << bad;
}

// Every variant the tuner may choose computes what the reference computes.
void checkVariant(Gpu& g, const BlockStatsVariant& v, uint32_t d) {
  SCOPED_TRACE(v.name() + " d " + std::to_string(d));
  const uint32_t n = 1100;
  ref::Matrix q = ref::randomMatrix(n, d, 2.0, 600 + d), k = ref::randomMatrix(n, d, 2.0, 700 + d);
  HeadData head = upload(g, q, k);
  g.kernels->forceBlockStats(v);
  AttentionSpec causal;
  causal.n = n;
  causal.d = d;
  causal.mask = MaskKind::Causal;
  AttentionSpec capped = causal;
  capped.mask = MaskKind::WindowBoth;
  capped.window = 300;
  capped.softcap = 2.5;
  capped.temperature = 0.8;
  for (const AttentionSpec& spec : {causal, capped}) {
    SCOPED_TRACE(maskName(spec.mask));
    // Row statistics with the entropy: one long block per key split.
    std::vector<float> st = rowStats(g, head, spec, 0, n);
    for (uint32_t i = 0; i < n; i += 7) {
      ref::RowStats rs = ref::rowStats(q, k, spec, i);
      double lse = double(st[i * 4]) + std::log(double(st[i * 4 + 1]));
      ASSERT_NEAR(lse, rs.max + std::log(rs.sum), 2e-5 * std::max(1.0, std::abs(rs.max + std::log(rs.sum)))) << i;
      ASSERT_NEAR(st[i * 4], rs.max, 2e-5 * std::max(1.0, std::abs(rs.max))) << i;
      double entropy = std::log(double(st[i * 4 + 1])) - st[i * 4 + 2] / st[i * 4 + 1];
      double want = ref::rowEntropy(q, k, spec, i);
      ASSERT_NEAR(entropy, want, 5e-5 * std::max(1.0, want)) << i;
    }
    // One key per texel (the short shape) and ~30 keys per texel (medium), max and mean. The
    // short region has 300 rows, so that a forced r16 (1024 rows a group) runs as itself.
    for (auto [region, w, h] : {std::tuple{MapRegion{400, 700, 0, n}, n, 64u}, std::tuple{MapRegion{0, n, 0, n}, 37u, 41u}}) {
      MapResult r = evaluate(g, head, spec, region, w, h);
      ref::Aggregate a = ref::aggregate(q, k, spec, r.rowBounds, r.colBounds);
      for (size_t t = 0; t < a.max.size(); ++t) {
        ASSERT_NEAR(r.texels[t * 4 + kChannelMax], a.max[t], 2e-5 * a.max[t] + 1e-7) << "texel " << t << " of " << w;
        ASSERT_NEAR(r.texels[t * 4 + kChannelMean], a.mean[t], 2e-5 * a.mean[t] + 1e-7) << "texel " << t << " of " << w;
      }
    }
  }
  g.kernels->forceBlockStats(std::nullopt);
}

class KernelVariantsGpu : public GpuTest {};

TEST_F(KernelVariantsGpu, EveryVariantThatMayRunMatchesTheReferenceOnTheShufflePath) {
  Gpu& g = gpu();
  std::vector<BlockStatsVariant> candidates = g.kernels->blockStatsCandidates(64);
  ASSERT_GE(candidates.size(), 2u) << "there is something to choose from";
  EXPECT_TRUE(std::any_of(candidates.begin(), candidates.end(), [](const BlockStatsVariant& v) { return v.texel; }))
      << "keys through a texel buffer are among the candidates";
  std::vector<BlockStatsVariant> runnable = g.kernels->blockStatsRunnable(64);
  EXPECT_EQ(runnable[0], g.kernels->defaultBlockStats(64)) << "today's default may run (untuned), first";
  EXPECT_FALSE(runnable[0].texel) << "today's default reads keys from the storage buffer";
  for (const BlockStatsVariant& v : candidates) {
    EXPECT_NE(std::find(runnable.begin(), runnable.end(), v), runnable.end()) << v.name();
    if (!v.texel || !g.kernels->headsMayLackTexelViews()) continue;
    BlockStatsVariant storage = v;
    storage.texel = false;
    EXPECT_NE(std::find(runnable.begin(), runnable.end(), storage), runnable.end())
        << v.name() << ": a head without texel views runs its storage twin, which must be tested too";
  }
  for (const BlockStatsVariant& v : runnable) checkVariant(g, v, 64);
}

TEST(KeyTexels, BufferAndViewSizesShowLlvmpipeOneTextureStateForEveryLength) {
  // Every head length gets the same llvmpipe texture state (see head_data.h): K's buffer size
  // is never a power of two, each view's size has a bit among bits 8-15, the extension stays
  // inside the slack, and views stay whole texels.
  for (uint64_t dp : {4u, 16u, 64u, 128u, 256u})
    for (uint64_t n : {1u, 2u, 3u, 16u, 64u, 255u, 256u, 300u, 1024u, 4096u, 5120u, 8192u, 65536u, 100000u, 131072u}) {
      uint64_t bytes = n * dp * 4;
      uint64_t total = keyBufferBytes(bytes), range = keyTexelViewRange(bytes);
      EXPECT_NE(total & (total - 1), 0u) << "n " << n << " dp " << dp;
      EXPECT_NE((range >> 8) & 0xff, 0u) << "n " << n << " dp " << dp;
      EXPECT_GE(range, bytes);
      EXPECT_LE(range, total) << "the last chunk's view fits its buffer";
      EXPECT_EQ(range % 16, 0u);
      EXPECT_GE(total, bytes + kKeyTexelSlack);
    }
}

TEST_F(KernelVariantsGpu, EveryCandidateMatchesTheReferenceOnThePortablePath) {
  Gpu& g = portableGpu();
  for (const BlockStatsVariant& v : g.kernels->blockStatsCandidates(16)) {
    EXPECT_FALSE(v.shuffle) << v.name() << ": the portable device has no shuffles";
    checkVariant(g, v, 16);
  }
}

TEST_F(KernelVariantsGpu, PipelinesBuiltInParallelAreTheOnesUsedAndComputeTheSame) {
  // The tuner builds every candidate's pipelines on all cores first; blockStats() must then
  // find them made (no compile of its own) and they must compute what the reference does.
  Gpu& g = gpu();
  auto fresh = std::make_unique<Kernels>(*g.ctx, *g.compiler);
  std::vector<std::pair<BlockStatsVariant, bool>> wanted;
  for (const BlockStatsVariant& v : fresh->blockStatsCandidates(64))
    for (bool entropy : {false, true}) wanted.emplace_back(v, entropy);
  double last = -1;
  bool monotone = true;
  fresh->prepareBlockStats(64, wanted, [&](double f) {
    monotone = monotone && f >= last && f <= 1.0;
    last = f;
  });
  EXPECT_TRUE(monotone);
  uint64_t before = g.compiler->compiles() + g.compiler->cacheHits();
  for (const auto& [v, entropy] : wanted) fresh->blockStats(64, v, entropy);
  EXPECT_EQ(g.compiler->compiles() + g.compiler->cacheHits(), before) << "blockStats() built a pipeline again";
  // The session computes with the parallel-built pipelines for a while.
  struct Swap {
    Gpu& g;
    std::unique_ptr<Kernels> saved;
    ~Swap() { g.kernels = std::move(saved); }
  } swap{g, std::exchange(g.kernels, std::move(fresh))};
  // Two of them (every candidate is checked on its own above): today's default and the last.
  checkVariant(g, wanted.front().first, 64);
  checkVariant(g, wanted.back().first, 64);
}

// A dispatch of few rows steps a variant down to fewer rows per invocation: a tuned one as
// soon as its workgroup covers more rows than there are, a forced one only past 4x, so that
// tests at a few hundred rows run the forced variant as itself.
TEST_F(KernelVariantsGpu, FewRowsStepDownTunedAtOnceAndForcedPastFourTimes) {
  Gpu& g = gpu();
  Kernels kernels(*g.ctx, *g.compiler);  // its own choices, not the shared session's
  if (kernels.forcedByEnvironment()) GTEST_SKIP() << "ATTNSCOPE_KERNEL forces a variant over this test's";
  const BlockStatsVariant r16{16, 64, kernels.usesShuffle(), 0};
  kernels.chooseBlockStats(64, BlockShape::Long, r16);
  EXPECT_EQ(kernels.blockStatsVariant(64, BlockShape::Long, 4096).rows, 16u);
  EXPECT_EQ(kernels.blockStatsVariant(64, BlockShape::Long, 300).rows, 4u) << "4 x 64 lanes <= 300 rows";
  EXPECT_EQ(kernels.blockStatsVariant(64, BlockShape::Long, 16).rows, 1u);
  kernels.forceBlockStats(r16);
  EXPECT_EQ(kernels.blockStatsVariant(64, BlockShape::Long, 300).rows, 16u) << "1024 <= 4 x 300";
  EXPECT_EQ(kernels.blockStatsVariant(64, BlockShape::Long, 256).rows, 16u);
  EXPECT_EQ(kernels.blockStatsVariant(64, BlockShape::Long, 200).rows, 8u);
  EXPECT_EQ(kernels.blockStatsVariant(64, BlockShape::Long, 16).rows, 4u) << "a 16-row probe: 256 lanes' rows";
  const BlockStatsVariant r8c8{8, 64, kernels.usesShuffle(), 8};
  kernels.forceBlockStats(r8c8);
  EXPECT_EQ(kernels.blockStatsVariant(64, BlockShape::Long, 16).chunk, 8u) << "rows shrink, the chunk stays";
}

// ATTNSCOPE_TUNE is 0 in the test environment (what the suite tests must not depend on
// timing); this test turns it on for itself.
struct TuningOn {
  std::string old;
  bool had;
  TuningOn() : had(std::getenv("ATTNSCOPE_TUNE") != nullptr) {
    if (had) old = std::getenv("ATTNSCOPE_TUNE");
    setenv("ATTNSCOPE_TUNE", "1", 1);
  }
  ~TuningOn() {
    if (had) setenv("ATTNSCOPE_TUNE", old.c_str(), 1);
    else unsetenv("ATTNSCOPE_TUNE");
  }
};

TEST_F(KernelVariantsGpu, TuningIsCachedAndRedoneOnlyWhenItShouldBe) {
  TuningOn on;
  Gpu& g = gpu();
  if (g.kernels->forcedByEnvironment()) GTEST_SKIP() << "ATTNSCOPE_KERNEL forces one variant: nothing is tuned";
  const uint32_t dp = 16;
  fs::path file = test::scratchDir("tuning") / "tuning.json";
  fs::remove(file);
  auto tune = [&](bool expectCached, const std::string& expectNotice) {
    KernelTuner tuner(*g.ctx, *g.kernels, file);
    testing::internal::CaptureStderr();
    TuneReport r = tuner.prepare(dp);
    std::string err = testing::internal::GetCapturedStderr();
    EXPECT_EQ(r.fromCache, expectCached) << err;
    if (expectNotice.empty()) EXPECT_EQ(err.find("note:"), std::string::npos) << err;
    else EXPECT_NE(err.find(expectNotice), std::string::npos) << err;
    EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), (expectCached ? 0 : 1) + (expectNotice.empty() ? 0 : 1)) << err;
    return r;
  };
  TuneReport first = tune(false, "");
  ASSERT_TRUE(fs::exists(file));
  EXPECT_EQ(first.candidates.size(), g.kernels->blockStatsCandidates(dp).size());
  for (int i = 0; i < kBlockShapes; ++i)
    EXPECT_EQ(g.kernels->blockStatsVariant(dp, BlockShape(i)), first.chosen[i]) << "the kernels use the winner";

  // A second run reads the cache and times nothing.
  TuneReport second = tune(true, "");
  for (int i = 0; i < kBlockShapes; ++i) EXPECT_EQ(second.chosen[i], first.chosen[i]);

  // Another driver version: the entry is not this device's, so it is timed again.
  nlohmann::json j;
  std::ifstream(file) >> j;
  KernelTuner probe(*g.ctx, *g.kernels, file);
  std::string key = probe.cacheKey(dp), other = key;
  other.replace(other.find("| driver ") + 9, 1, "9");
  ASSERT_NE(other, key);
  j["entries"][other] = j["entries"][key];
  j["entries"].erase(key);
  std::ofstream(file) << j.dump();
  tune(false, "");

  // A variant name this version does not know: set aside with a notice.
  std::ifstream(file) >> j;
  j["entries"][key]["variants"]["long"] = "r3.wg64.hyper.c0";
  std::ofstream(file) << j.dump();
  tune(false, "ignoring the kernel tuning cache");

  // A corrupt file: a notice, timed again, and the file is whole again.
  std::ofstream(file) << "{\"entries\": {";
  tune(false, "is not valid JSON");
  std::ifstream(file) >> j;
  EXPECT_TRUE(j["entries"].contains(key));
  fs::remove(file);
}

// The helper devices behind the tuner's and the viewer's first compiles: every unit runs
// once, on this device or a helper (one per spare core; none on one core), each helper's
// objects go before its device (validation would report them leaked), and the progress
// climbs to 1.
TEST_F(KernelVariantsGpu, HelperDevicesRunEveryUnitOnceAndCleanUp) {
  Gpu& g = gpu();
  const size_t units = 12;
  std::vector<int> ranOn(units, -1);
  std::vector<std::unique_ptr<Buffer>> made(4);  // per slot, made on that slot's device
  std::vector<double> progress;
  uint64_t messages = Context::validationMessageCount();
  const unsigned helpers = helperDevicesFor(*g.ctx, units);
  std::atomic<bool> helperRan{false};
  spreadOverHelperDevices(
      *g.ctx, *g.kernels, units,
      [&](Context& ctx, Kernels& kernels, unsigned slot, size_t unit) {
        EXPECT_EQ(ctx.caps().name, g.ctx->caps().name) << "the same device";
        EXPECT_EQ(slot == 0, &ctx == g.ctx.get());
        // This device waits for a helper's first unit (up to 20 s), so that one surely takes part.
        for (int wait = 0; slot == 0 && helpers > 0 && !helperRan && wait < 2000; ++wait)
          std::this_thread::sleep_for(std::chrono::milliseconds(10));
        if (slot > 0 && !made[slot]) made[slot] = std::make_unique<Buffer>(ctx, 256, VK_BUFFER_USAGE_STORAGE_BUFFER_BIT,
                                                                            MemoryUse::DeviceLocal, "helper test");
        // A real dispatch on that device: the warm-ups' smallest step.
        ref::Matrix q = ref::randomMatrix(8, 16, 1.0, 700 + unit), k = ref::randomMatrix(8, 16, 1.0, 800 + unit);
        HeadData head = HeadData::fromHost(ctx, q.rows, q.cols, q.v.data(), k.v.data(), nullptr);
        (void)kernels;
        ranOn[unit] = int(slot);
        if (slot > 0) helperRan = true;
      },
      HelperHooks{{}, [&](unsigned slot) { made[slot].reset(); }}, [&](double f) { progress.push_back(f); });
  for (size_t u = 0; u < units; ++u) EXPECT_GE(ranOn[u], 0) << "unit " << u << " never ran";
  for (int slot : ranOn) EXPECT_LE(slot, int(helpers));
  if (helpers > 0) EXPECT_TRUE(helperRan) << "a helper device ran units";
  for (const auto& b : made) EXPECT_EQ(b, nullptr) << "the end hook ran";
  ASSERT_FALSE(progress.empty());
  EXPECT_TRUE(std::is_sorted(progress.begin(), progress.end()));
  EXPECT_DOUBLE_EQ(progress.back(), 1.0);
  EXPECT_EQ(Context::validationMessageCount(), messages) << Context::lastValidationMessage();
}

}  // namespace
}  // namespace attnscope::test
