// GPU attention against the double-precision CPU reference: row statistics, probabilities,
// masks, scale and temperature, max and mean aggregation, and the invariants.
//
// Tolerances (float32 on the GPU vs double on the CPU, logits of order 1-10):
//   probabilities p_ij     |gpu - ref| <= 2e-5 * ref + 1e-7        (kProbRel, kProbAbs)
//   log-sum-exp m + log l  |gpu - ref| <= 2e-5 * max(1, |ref|)
//   aggregated max / mean  same as probabilities
//   row sums               |sum_j p_ij - 1| <= 1e-4 (n up to 4099 float additions)
//   row entropy            |gpu - ref| <= 5e-5 * max(1, ref)
//   soft-capped logits     as logits: |gpu - ref| <= 2e-5 * max(1, |ref|) (tanh in float32)
#include <gtest/gtest.h>

#include <cmath>
#include <tuple>

#include "engine/error.h"
#include "tests/gpu_fixture.h"

namespace attnscope::test {
namespace {

constexpr double kProbRel = 2e-5, kProbAbs = 1e-7;

::testing::AssertionResult probClose(double gpuValue, double refValue) {
  double tol = kProbRel * refValue + kProbAbs;
  if (std::abs(gpuValue - refValue) <= tol) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "gpu " << gpuValue << " vs ref " << refValue
                                       << " (diff " << gpuValue - refValue << ", tol " << tol << ")";
}

// Rows to check: all of them for small n, three bands for large n.
std::vector<std::pair<uint32_t, uint32_t>> rowBands(uint32_t n) {
  if (n <= 1000) return {{0, n}};
  return {{0, 64}, {n / 2 - 32, n / 2 + 32}, {n - 64, n}};
}

// Checks every cell of rows [a, b) at one cell per texel against the reference.
void checkRowsExact(Gpu& g, const ref::Matrix& q, const ref::Matrix& k, const AttentionSpec& spec,
                    uint32_t a, uint32_t b, int& failures) {
  HeadData head = upload(g, q, k);
  MapResult r = evaluate(g, head, spec, {a, b, 0, spec.n}, spec.n, b - a);
  ASSERT_EQ(r.width, spec.n);
  ASSERT_EQ(r.height, b - a);
  for (uint32_t i = a; i < b; ++i) {
    std::vector<double> p = ref::probabilityRow(q, k, spec, i);
    double rowSum = 0;
    for (uint32_t j = 0; j < spec.n; ++j) {
      float got = r.at(j, i - a, kChannelMean);
      rowSum += got;
      // One cell per texel: max and mean are both the cell itself.
      if (failures < 10) {
        auto ok = probClose(got, p[j]);
        if (!ok) {
          ++failures;
          ADD_FAILURE() << "p[" << i << "][" << j << "] n=" << spec.n << " d=" << spec.d << ": " << ok.message();
        }
      }
      EXPECT_EQ(got, r.at(j, i - a, kChannelMax));
      if (!ref::unmasked(spec, i, j)) {
        EXPECT_EQ(got, 0.0f) << "masked cell (" << i << ", " << j << ") must be exactly 0";
      } else {
        double logitRef = ref::logit(q, k, spec, i, j);
        EXPECT_NEAR(r.at(j, i - a, kChannelLogit), logitRef, 2e-5 * std::max(1.0, std::abs(logitRef)));
      }
    }
    EXPECT_NEAR(rowSum, 1.0, 1e-4) << "row " << i << " must sum to 1";
  }
}

class SizeSweep : public GpuTest,
                  public ::testing::WithParamInterface<std::tuple<uint32_t, uint32_t>> {};

TEST_P(SizeSweep, ProbabilitiesAndRowStatsMatchReference) {
  auto [n, d] = GetParam();
  Gpu& g = gpu();
  ref::Matrix q = ref::randomMatrix(n, d, 2.0, 1000 + n * 7 + d);
  ref::Matrix k = ref::randomMatrix(n, d, 2.0, 2000 + n * 7 + d);
  for (MaskKind mask : {MaskKind::None, MaskKind::Causal}) {
    AttentionSpec spec;
    spec.n = n;
    spec.d = d;
    spec.mask = mask;
    int failures = 0;
    for (auto [a, b] : rowBands(n)) checkRowsExact(g, q, k, spec, a, b, failures);

    HeadData head = upload(g, q, k);
    for (auto [a, b] : rowBands(n)) {
      std::vector<float> st = rowStats(g, head, spec, a, b);
      for (uint32_t i = a; i < b; ++i) {
        ref::RowStats rs = ref::rowStats(q, k, spec, i);
        double lseRef = rs.max + std::log(rs.sum);
        double lseGpu = double(st[(i - a) * 4]) + std::log(double(st[(i - a) * 4 + 1]));
        ASSERT_NEAR(lseGpu, lseRef, 2e-5 * std::max(1.0, std::abs(lseRef))) << "row " << i;
        ASSERT_NEAR(st[(i - a) * 4], rs.max, 2e-5 * std::max(1.0, std::abs(rs.max))) << "row max " << i;
        double l = st[(i - a) * 4 + 1], tsum = st[(i - a) * 4 + 2];
        double entropy = std::log(l) - tsum / l;
        double want = ref::rowEntropy(q, k, spec, i);
        ASSERT_NEAR(entropy, want, 5e-5 * std::max(1.0, want)) << "row entropy " << i;
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Sizes, SizeSweep,
                         ::testing::Combine(::testing::Values(1u, 2u, 3u, 17u, 255u, 256u, 257u, 1000u, 4099u),
                                            ::testing::Values(1u, 3u, 64u, 128u)),
                         [](const auto& info) {
                           return "n" + std::to_string(std::get<0>(info.param)) + "_d" +
                                  std::to_string(std::get<1>(info.param));
                         });


AttentionSpec makeSpec(uint32_t n, uint32_t d, MaskKind mask, uint32_t window = 0) {
  AttentionSpec s;
  s.n = n;
  s.d = d;
  s.mask = mask;
  s.window = window;
  return s;
}

class Attention : public GpuTest {};

TEST_F(Attention, EveryMaskAndWindowMatchesReference) {
  Gpu& g = gpu();
  const uint32_t n = 300, d = 16;
  ref::Matrix q = ref::randomMatrix(n, d, 2.0, 11), k = ref::randomMatrix(n, d, 2.0, 12);
  for (MaskKind mask : {MaskKind::None, MaskKind::Causal, MaskKind::WindowCausal, MaskKind::WindowBoth})
    for (uint32_t w : {1u, 5u, 64u, 1000u}) {
      if ((mask == MaskKind::None || mask == MaskKind::Causal) && w != 1) continue;
      SCOPED_TRACE(std::string(maskName(mask)) + " window " + std::to_string(w));
      int failures = 0;
      checkRowsExact(g, q, k, makeSpec(n, d, mask, w), 0, n, failures);
    }
}

TEST_F(Attention, WindowOfOneKeepsOnlyTheDiagonal) {
  Gpu& g = gpu();
  ref::Matrix q = ref::randomMatrix(50, 8, 2.0, 21), k = ref::randomMatrix(50, 8, 2.0, 22);
  HeadData head = upload(g, q, k);
  MapResult r = evaluate(g, head, makeSpec(50, 8, MaskKind::WindowCausal, 1), {0, 50, 0, 50}, 50, 50);
  for (uint32_t i = 0; i < 50; ++i)
    for (uint32_t j = 0; j < 50; ++j) EXPECT_EQ(r.at(j, i, kChannelMean), i == j ? 1.0f : 0.0f);
}

TEST_F(Attention, ScaleAndTemperature) {
  Gpu& g = gpu();
  const uint32_t n = 200, d = 32;
  ref::Matrix q = ref::randomMatrix(n, d, 1.0, 31), k = ref::randomMatrix(n, d, 1.0, 32);
  for (double temperature : {0.25, 0.7, 1.0, 3.0})
    for (double scale : {-1.0, 0.05, 0.5}) {  // -1: the default 1/sqrt(d)
      AttentionSpec spec = makeSpec(n, d, MaskKind::Causal);
      spec.temperature = temperature;
      if (scale > 0) spec.scale = scale;
      SCOPED_TRACE("T=" + std::to_string(temperature) + " scale=" + std::to_string(scale));
      int failures = 0;
      checkRowsExact(g, q, k, spec, 0, n, failures);
    }
}

TEST_F(Attention, MaxAndMeanAggregationAreExact) {
  Gpu& g = gpu();
  const uint32_t n = 1000, d = 64;
  ref::Matrix q = ref::randomMatrix(n, d, 2.0, 41), k = ref::randomMatrix(n, d, 2.0, 42);
  HeadData head = upload(g, q, k);
  struct Case { MapRegion region; uint32_t w, h; MaskKind mask; };
  for (Case c : {Case{{0, n, 0, n}, 37, 53, MaskKind::Causal}, Case{{0, n, 0, n}, 256, 256, MaskKind::None},
                 Case{{100, 433, 250, 999}, 61, 29, MaskKind::Causal},
                 Case{{0, n, 0, n}, 1, 1, MaskKind::WindowBoth}}) {
    AttentionSpec spec = makeSpec(n, d, c.mask, 40);
    MapResult r = evaluate(g, head, spec, c.region, c.w, c.h);
    ref::Aggregate a = ref::aggregate(q, k, spec, r.rowBounds, r.colBounds);
    for (uint32_t y = 0; y < r.height; ++y)
      for (uint32_t x = 0; x < r.width; ++x) {
        size_t t = size_t(y) * r.width + x;
        ASSERT_TRUE(probClose(r.at(x, y, kChannelMax), a.max[t])) << "max at texel " << x << "," << y;
        ASSERT_TRUE(probClose(r.at(x, y, kChannelMean), a.mean[t])) << "mean at texel " << x << "," << y;
        ASSERT_GE(r.at(x, y, kChannelMax), r.at(x, y, kChannelMean)) << "max >= mean at " << x << "," << y;
      }
  }
}

TEST_F(Attention, ManyStripsAndKeyChunksGiveTheSameMap) {
  // Small strips and 256-key chunks exercise merging across dispatches on a small input.
  Gpu& g = gpu();
  const uint32_t n = 1100, d = 12;
  ref::Matrix q = ref::randomMatrix(n, d, 2.0, 51), k = ref::randomMatrix(n, d, 2.0, 52);
  HeadData head = upload(g, q, k);
  head.setKeysPerChunkForTesting(256);
  // Keys from the storage buffer (windows at each chunk's aligned offset) and through the
  // texel buffer views (one per chunk, indexed from its first key).
  const bool forced = g.kernels->forcedByEnvironment();
  for (bool texel : {false, true}) {
    SCOPED_TRACE(texel ? "keys through texels" : "keys from the storage buffer");
    if (!forced) {
      BlockStatsVariant v = g.kernels->defaultBlockStats(paddedDim(d));
      v.texel = texel;
      g.kernels->forceBlockStats(v);
    }
    for (MaskKind mask : {MaskKind::Causal, MaskKind::WindowBoth}) {
      AttentionSpec spec = makeSpec(n, d, mask, 300);
      for (MapRegion region : {MapRegion{0, n, 0, n}, MapRegion{200, 900, 100, 700}}) {
        MapResult r = evaluate(g, head, spec, region, 77, 45, 1.0 /* one workgroup of rows a strip */);
        ref::Aggregate a = ref::aggregate(q, k, spec, r.rowBounds, r.colBounds);
        for (size_t t = 0; t < a.max.size(); ++t) {
          ASSERT_TRUE(probClose(r.texels[t * 4 + kChannelMax], a.max[t])) << "texel " << t;
          ASSERT_TRUE(probClose(r.texels[t * 4 + kChannelMean], a.mean[t])) << "texel " << t;
        }
      }
    }
    if (!forced) g.kernels->forceBlockStats(std::nullopt);
  }
}

TEST_F(Attention, TilesReuseTheOverviewsRowStatistics) {
  // The viewer's flow: the overview sweep leaves every row's statistics behind; tiles with
  // texels aligned to 2^level cells then read them instead of recomputing.
  Gpu& g = gpu();
  const uint32_t n = 1000, d = 16;
  ref::Matrix q = ref::randomMatrix(n, d, 2.0, 131), k = ref::randomMatrix(n, d, 2.0, 132);
  HeadData head = upload(g, q, k);
  AttentionSpec spec = makeSpec(n, d, MaskKind::Causal);
  Buffer stats(*g.ctx, uint64_t(n) * kStatsBytes, VK_BUFFER_USAGE_STORAGE_BUFFER_BIT, MemoryUse::DeviceLocal, "shared stats");
  auto run = [&](const MapRegion& region, const MapJobOptions& o) {
    MapJob job(*g.ctx, *g.kernels, head, spec, region, 0, 0, o);
    runToCompletion(g, job);
    return MapResult{job.width(), job.height(), job.rowBounds(), job.colBounds(), readbackImage(*g.ctx, job.image())};
  };
  MapJobOptions sweep;
  sweep.cellsPerTexel = 4;  // level 2
  sweep.rowStats = &stats;
  sweep.flopsPerStrip = 1;  // many strips
  MapResult overview = run({0, n, 0, n}, sweep);
  EXPECT_EQ(overview.width, 250u);
  std::vector<float> st(size_t(n) * 4);
  stats.download(st.data(), st.size() * 4);
  for (uint32_t i = 0; i < n; i += 37) {
    ref::RowStats rs = ref::rowStats(q, k, spec, i);
    ASSERT_NEAR(st[i * 4] + std::log(double(st[i * 4 + 1])), rs.max + std::log(rs.sum), 2e-5 * std::max(1.0, std::abs(rs.max)));
  }
  for (uint32_t cells : {1u, 2u, 8u}) {
    MapJobOptions tile;
    tile.cellsPerTexel = cells;
    tile.rowStats = &stats;
    tile.rowStatsReady = true;
    MapRegion region{512, 768, 256, 512};
    MapResult r = run(region, tile);
    EXPECT_EQ(r.width, 256u / cells);
    for (uint32_t t = 0; t < r.colBounds.size(); ++t) EXPECT_EQ(r.colBounds[t], 256u + t * cells);
    ref::Aggregate a = ref::aggregate(q, k, spec, r.rowBounds, r.colBounds);
    for (size_t t = 0; t < a.max.size(); ++t) {
      ASSERT_TRUE(probClose(r.texels[t * 4 + kChannelMax], a.max[t])) << "texel " << t << " at " << cells;
      ASSERT_TRUE(probClose(r.texels[t * 4 + kChannelMean], a.mean[t])) << "texel " << t << " at " << cells;
    }
  }
}

TEST_F(Attention, SoftCappedLogitsMatchReferenceOnBothPaths) {
  // Gemma-2's attn_logit_softcapping: s -> C tanh(s / C) before the softmax (and before the
  // temperature). Logits here reach ~40, so small caps change the map a lot.
  const uint32_t n = 260, d = 16;
  ref::Matrix q = ref::randomMatrix(n, d, 2.5, 141), k = ref::randomMatrix(n, d, 2.5, 142);
  for (Gpu* g : {&gpu(), &portableGpu()})
    for (double cap : {0.5, 5.0, 50.0})
      for (MaskKind mask : {MaskKind::Causal, MaskKind::None, MaskKind::WindowCausal}) {
        AttentionSpec spec = makeSpec(n, d, mask, 33);
        spec.scale = 1.0;
        spec.softcap = cap;
        spec.temperature = cap == 5.0 ? 0.7 : 1.0;
        SCOPED_TRACE("cap " + std::to_string(cap) + " " + maskName(mask) + (g->kernels->usesShuffle() ? "" : " portable"));
        int failures = 0;
        checkRowsExact(*g, q, k, spec, 0, n, failures);
      }
  // The cap really changes the map: without it the largest weight of a row is much larger.
  AttentionSpec capped = makeSpec(n, d, MaskKind::Causal), plain = capped;
  capped.scale = plain.scale = 1.0;
  capped.softcap = 0.5;
  EXPECT_GT(ref::probabilityRow(q, k, plain, n - 1)[n - 1] + 0.5, ref::probabilityRow(q, k, capped, n - 1)[n - 1]);
  double maxPlain = 0, maxCapped = 0;
  for (double p : ref::probabilityRow(q, k, plain, n - 1)) maxPlain = std::max(maxPlain, p);
  for (double p : ref::probabilityRow(q, k, capped, n - 1)) maxCapped = std::max(maxCapped, p);
  EXPECT_GT(maxPlain, 10 * maxCapped);
}

TEST_F(Attention, RowsBeforeTheFirstCapturedQueryHaveNoKeys) {
  // A capture of the last 300 of 1000 queries: rows 700..999 are exact with the causal mask
  // at their absolute positions; rows below hold nothing (all zeros, no logit).
  Gpu& g = gpu();
  const uint32_t n = 1000, d = 16;
  ref::Matrix q = ref::randomMatrix(n, d, 2.0, 151), k = ref::randomMatrix(n, d, 2.0, 152);
  for (MaskKind mask : {MaskKind::Causal, MaskKind::WindowCausal}) {
    AttentionSpec spec = makeSpec(n, d, mask, 100);
    spec.queryBegin = 700;
    int failures = 0;
    checkRowsExact(g, q, k, spec, 700, n, failures);
    HeadData head = upload(g, q, k);
    MapResult r = evaluate(g, head, spec, {600, 800, 0, n}, n, 200);
    for (uint32_t i = 600; i < 700; ++i)
      for (uint32_t j = 0; j < n; j += 7) {
        ASSERT_EQ(r.at(j, i - 600, kChannelMean), 0.0f);
        ASSERT_LT(r.at(j, i - 600, kChannelLogit), -1e38f) << "row " << i << " has no keys";
      }
    EXPECT_GT(r.at(750, 150, kChannelMean), 0.0f);   // row 750 sees key 750
    EXPECT_EQ(r.at(751, 150, kChannelMean), 0.0f);   // but not key 751 (causal at position 750)
  }
  AttentionSpec bad = makeSpec(n, d, MaskKind::Causal);
  bad.queryBegin = n;
  EXPECT_THROW(bad.validate(), Error);
}

TEST_F(Attention, PortablePathMatchesReference) {
  // Shared-memory key tiles instead of subgroup shuffles: the path for devices without them.
  Gpu& g = portableGpu();
  ASSERT_FALSE(g.kernels->usesShuffle());
  for (uint32_t d : {3u, 64u, 200u, 1024u}) {
    const uint32_t n = d > 256 ? 70 : 333;  // d = 1024: the largest head the lessons use
    ref::Matrix q = ref::randomMatrix(n, d, 1.0, 61 + d), k = ref::randomMatrix(n, d, 1.0, 62 + d);
    int failures = 0;
    checkRowsExact(g, q, k, makeSpec(n, d, MaskKind::Causal), 0, n, failures);
  }
}
}  // namespace
}  // namespace attnscope::test
