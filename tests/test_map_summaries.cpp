// The viewer's summaries of the whole-map sweep against the double reference: every row's
// entropy, the attention each block of keys receives, and the expected p by distance from the
// diagonal. Tolerances: entropy 5e-5 * max(1, H); received and expected 1e-4 relative (sums of
// float32 texel means over up to 8 x 8 cells and 700 rows).
#include <gtest/gtest.h>

#include <cmath>

#include "compute/map_summaries.h"
#include "engine/commands.h"
#include "tests/gpu_fixture.h"

namespace attnscope::test {
namespace {

class MapSummaries : public GpuTest {};

TEST_F(MapSummaries, EntropyReceivedAndExpectedMatchTheReference) {
  Gpu& g = gpu();
  const uint32_t n = 700, d = 16, per = 8;
  ref::Matrix q = ref::randomMatrix(n, d, 2.0, 191), k = ref::randomMatrix(n, d, 2.0, 192);
  HeadData head = upload(g, q, k);
  for (MaskKind mask : {MaskKind::Causal, MaskKind::None}) {
    AttentionSpec spec;
    spec.n = n;
    spec.d = d;
    spec.mask = mask;
    // The viewer's sweep: texels of 8 x 8 cells, every row's statistics (with t) kept.
    Buffer stats(*g.ctx, uint64_t(n) * kStatsBytes, VK_BUFFER_USAGE_STORAGE_BUFFER_BIT, MemoryUse::DeviceLocal, "stats");
    MapJobOptions o;
    o.cellsPerTexel = per;
    o.rowStats = &stats;
    o.entropy = true;
    MapJob job(*g.ctx, *g.kernels, head, spec, {0, n, 0, n}, 0, 0, o);
    runToCompletion(g, job);
    std::vector<float> texels = readbackImage(*g.ctx, job.image()), st(size_t(n) * 4);
    stats.download(st.data(), st.size() * 4);
    SweepTexels s{texels, job.width(), job.height(), per, n};

    std::vector<double> prefix = rowEntropyPrefix(st, n);
    for (uint32_t i = 0; i < n; i += 7) {
      double want = ref::rowEntropy(q, k, spec, i);
      ASSERT_NEAR(prefix[i + 1] - prefix[i], want, 5e-5 * std::max(1.0, want)) << "row " << i;
    }

    std::vector<std::vector<double>> p(n);
    for (uint32_t i = 0; i < n; ++i) p[i] = ref::probabilityRow(q, k, spec, i);
    std::vector<double> received = receivedPerKeyBlock(s);
    ASSERT_EQ(received.size(), (n + per - 1) / per);
    for (uint32_t b = 0; b < received.size(); ++b) {
      uint32_t j0 = b * per, j1 = std::min(n, j0 + per);
      double sum = 0;
      for (uint32_t i = 0; i < n; ++i)
        for (uint32_t j = j0; j < j1; ++j) sum += p[i][j];
      double want = sum / (j1 - j0);
      ASSERT_NEAR(received[b], want, 1e-4 * want + 1e-9) << "key block " << b;
    }

    std::vector<float> expected = expectedByDistance(s);
    uint32_t w = job.width();
    ASSERT_EQ(expected.size(), 2 * w - 1);
    std::vector<double> sum(expected.size(), 0.0), cells(expected.size(), 0.0);
    for (uint32_t i = 0; i < n; ++i)
      for (uint32_t j = 0; j < n; ++j) {
        uint32_t band = j / per + (w - 1) - i / per;
        sum[band] += p[i][j];
        cells[band] += 1;
      }
    for (size_t b = 0; b < expected.size(); ++b) {
      double want = sum[b] / cells[b];
      ASSERT_NEAR(expected[b], want, 1e-4 * want + 1e-9) << "band " << b;
    }
    if (mask == MaskKind::Causal) {
      EXPECT_EQ(expected.back(), 0.0f) << "the far upper band is all masked";
    }
  }
}

}  // namespace
}  // namespace attnscope::test
