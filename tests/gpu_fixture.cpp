#include "tests/gpu_fixture.h"

#include <cstdlib>

#include "compute/row_stats_pass.h"
#include "engine/commands.h"

namespace attnscope::test {

static Gpu make(bool portable) {
  ContextOptions o;
  o.validate = true;  // tests always run with the Khronos validation layer
  if (const char* dev = std::getenv("ATTNSCOPE_TEST_DEVICE")) o.device = dev;
  o.forcePortable = portable;
  return Gpu(o);
}

Gpu& gpu() {
  static Gpu g = make(false);
  return g;
}

Gpu& portableGpu() {
  static Gpu g = make(true);
  return g;
}

void runToCompletion(Gpu& g, MapJob& job) {
  CommandStream stream(*g.ctx);
  // Every piece says beforehand what it will record (a viewer stops before one that would
  // not fit its frame), and the pieces add up to the job's work.
  double sum = 0;
  while (!job.done()) {
    Recording rec = stream.begin();
    double announced = job.nextPieceFlops();
    double recorded = job.recordNext(rec);
    EXPECT_EQ(announced, recorded);
    sum += recorded;
    stream.submitAndWait();
  }
  EXPECT_NEAR(sum, job.totalFlops(), 1e-9 * job.totalFlops()) << "the pieces' work adds up to the job's";
}

MapResult evaluate(Gpu& g, const HeadData& head, const AttentionSpec& spec, const MapRegion& region,
                   uint32_t width, uint32_t height, double flopsPerStrip) {
  MapJob job(*g.ctx, *g.kernels, head, spec, region, width, height, flopsPerStrip);
  runToCompletion(g, job);
  return {job.width(), job.height(), job.rowBounds(), job.colBounds(), readbackImage(*g.ctx, job.image())};
}

std::vector<float> rowStats(Gpu& g, const HeadData& head, const AttentionSpec& spec, uint32_t a,
                            uint32_t b) {
  Buffer stats(*g.ctx, uint64_t(b - a) * kStatsBytes, VK_BUFFER_USAGE_STORAGE_BUFFER_BIT, MemoryUse::DeviceLocal, "test stats");
  RowStatsPass pass(*g.ctx, *g.kernels, spec.n, b - a, head.dp(), true);
  CommandStream stream(*g.ctx);
  Recording rec = stream.begin();
  pass.record(rec, head, spec, a, b, stats, a);
  stream.submitAndWait();
  std::vector<float> out(size_t(b - a) * 4);
  stats.download(out.data(), out.size() * 4);
  return out;
}

}  // namespace attnscope::test
