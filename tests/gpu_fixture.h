// One validated Vulkan context for the whole test binary, and a fixture that fails any test
// during which the validation layer said something.
#pragma once
#include <gtest/gtest.h>

#include <memory>
#include <vector>

#include "compute/gpu_session.h"
#include "compute/head_data.h"
#include "compute/kernels.h"
#include "compute/map_job.h"
#include "engine/context.h"
#include "engine/shader_compiler.h"
#include "tests/reference.h"

namespace attnscope::test {

using Gpu = GpuSession;

// The default device with validation on; the device can be chosen with ATTNSCOPE_TEST_DEVICE.
Gpu& gpu();
// The same device with every optional feature off: the portable shader paths.
Gpu& portableGpu();

class GpuTest : public ::testing::Test {
 protected:
  void SetUp() override { before_ = Context::validationMessageCount(); }
  void TearDown() override {
    EXPECT_EQ(Context::validationMessageCount(), before_)
        << "validation layer message: " << Context::lastValidationMessage();
  }

 private:
  uint64_t before_ = 0;
};

inline HeadData upload(Gpu& g, const ref::Matrix& q, const ref::Matrix& k,
                       const ref::Matrix* v = nullptr) {
  return HeadData::fromHost(*g.ctx, q.rows, q.cols, q.v.data(), k.v.data(), v ? v->v.data() : nullptr);
}

// An n x n causal map of head dimension d, the rest at its defaults.
inline AttentionSpec causalSpec(uint32_t n, uint32_t d) {
  AttentionSpec spec;
  spec.n = n;
  spec.d = d;
  spec.mask = MaskKind::Causal;
  return spec;
}

// Records and submits a MapJob piece by piece until it is done.
void runToCompletion(Gpu& g, MapJob& job);

// Runs a MapJob to completion and returns the texels (4 floats each).
struct MapResult {
  uint32_t width, height;
  std::vector<uint32_t> rowBounds, colBounds;
  std::vector<float> texels;
  float at(uint32_t x, uint32_t y, int ch) const { return texels[(size_t(y) * width + x) * 4 + ch]; }
};
MapResult evaluate(Gpu& g, const HeadData& head, const AttentionSpec& spec, const MapRegion& region,
                   uint32_t width, uint32_t height, double flopsPerStrip = 0);

// Row statistics (m, l, t, 0) for rows [a, b) through RowStatsPass.
std::vector<float> rowStats(Gpu& g, const HeadData& head, const AttentionSpec& spec, uint32_t a,
                            uint32_t b);

}  // namespace attnscope::test
