// GPU attention against the double-precision CPU reference: row statistics, probabilities,
// masks, scale and temperature, max and mean aggregation, and the invariants.
//
// Tolerances (float32 on the GPU vs double on the CPU, logits of order 1-10):
//   probabilities p_ij     |gpu - ref| <= 2e-5 * ref + 1e-7        (kProbRel, kProbAbs)
//   log-sum-exp m + log l  |gpu - ref| <= 2e-5 * max(1, |ref|)
//   aggregated max / mean  same as probabilities
//   row sums               |sum_j p_ij - 1| <= 1e-4 (n up to 4099 float additions)
#include <gtest/gtest.h>

#include <cmath>
#include <tuple>

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
        double lseGpu = double(st[(i - a) * 2]) + std::log(double(st[(i - a) * 2 + 1]));
        ASSERT_NEAR(lseGpu, lseRef, 2e-5 * std::max(1.0, std::abs(lseRef))) << "row " << i;
        ASSERT_NEAR(st[(i - a) * 2], rs.max, 2e-5 * std::max(1.0, std::abs(rs.max))) << "row max " << i;
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

}  // namespace
}  // namespace attnscope::test
