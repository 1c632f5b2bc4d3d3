// The viewer's frame budget against a simulated device: frames settle at the time target
// whatever the device's speed, follow a change of speed or of drawing cost within a few
// frames, shrink while the camera moves, and survive a stall. Then a real TileView on
// lavapipe stops recording where the budget says.
#include <gtest/gtest.h>

#include <cmath>

#include "tests/gpu_fixture.h"
#include "tests/view_fixture.h"
#include "viz/frame_budget.h"
#include "viz/tile_view.h"

namespace attnscope::test {
namespace {

// A device that runs `flopsPerMs[shape]` and draws in `drawMs`, fed pieces of pieceFlops.
struct SimulatedDevice {
  std::array<double, kBlockShapes> flopsPerMs{};
  double drawMs = 10;
  BlockShape shape = BlockShape::Medium;

  // One frame: pieces while the budget says they fit; returns the frame's wall time.
  double frame(FrameBudget& budget, bool moving) {
    FrameWork work = budget.frame(moving);
    double pieceFlops = budget.pieceFlops(shape);
    for (int i = 0; i < 10000; ++i) {
      double ms = budget.pieceMs(shape, pieceFlops);
      if (!work.fits(ms)) break;
      work.predictedMs += ms;
      work.flops[int(shape)] += pieceFlops;
    }
    std::array<double, kBlockShapes> shapeMs{};
    shapeMs[int(shape)] = work.flops[int(shape)] / flopsPerMs[int(shape)];
    double computeMs = shapeMs[int(shape)];
    double frameMs = computeMs + drawMs;
    budget.observe(frameMs, computeMs, shapeMs, work);
    return frameMs;
  }
};

TEST(FrameBudget, FramesSettleAtTheTargetWhateverTheDeviceSpeed) {
  // The first guess is 5x too fast or too slow: within 8 frames the frame time is within 15 %
  // of the target either way.
  for (double truth : {6e6, 3e7, 1.5e8}) {
    SCOPED_TRACE(truth);
    FrameBudget budget({3e7, 3e7, 3e7, 3e7});
    SimulatedDevice dev;
    dev.flopsPerMs = {truth, truth, truth, truth};
    std::vector<double> frames;
    for (int f = 0; f < 30; ++f) frames.push_back(dev.frame(budget, false));
    for (int f = 8; f < 30; ++f) EXPECT_NEAR(frames[f], budget.targets().stillFrameMs, 0.15 * budget.targets().stillFrameMs) << f;
    EXPECT_NEAR(budget.flopsPerMs(BlockShape::Medium), truth, 0.05 * truth);
    EXPECT_NEAR(budget.otherMs(), dev.drawMs, 1.0);
  }
}

TEST(FrameBudget, FollowsTheDeviceWhenItsSpeedOrDrawingCostChanges) {
  FrameBudget budget({3e7, 3e7, 3e7, 3e7});
  SimulatedDevice dev;
  dev.flopsPerMs = {3e7, 3e7, 3e7, 3e7};
  for (int f = 0; f < 20; ++f) dev.frame(budget, false);
  // Another program takes the CPU: the device runs at a fifth of the speed.
  dev.flopsPerMs = {6e6, 6e6, 6e6, 6e6};
  double first = dev.frame(budget, false);
  EXPECT_GT(first, 2 * budget.targets().stillFrameMs) << "the frame that finds out is long";
  for (int f = 0; f < 5; ++f) dev.frame(budget, false);
  EXPECT_NEAR(dev.frame(budget, false), budget.targets().stillFrameMs, 0.15 * budget.targets().stillFrameMs);
  // Drawing gets dearer (a larger window): compute gives way within a few frames.
  dev.drawMs = 20;
  for (int f = 0; f < 4; ++f) dev.frame(budget, false);
  EXPECT_NEAR(dev.frame(budget, false), budget.targets().stillFrameMs, 0.15 * budget.targets().stillFrameMs);
}

TEST(FrameBudget, MovingFramesAreShorterAndAStallDoesNotStarveTheWork) {
  FrameBudget budget({3e7, 3e7, 3e7, 3e7});
  SimulatedDevice dev;
  dev.flopsPerMs = {3e7, 3e7, 3e7, 3e7};
  for (int f = 0; f < 20; ++f) dev.frame(budget, false);
  EXPECT_LT(budget.computeMs(true), budget.computeMs(false));
  for (int f = 0; f < 5; ++f) EXPECT_NEAR(dev.frame(budget, true), budget.targets().movingFrameMs, 0.15 * budget.targets().movingFrameMs);
  // One frame of 2 s outside compute (a head switch waiting for the device): the work still
  // gets its minimum, and the budget is back within 10 frames.
  FrameWork w = budget.frame(false);
  budget.observe(2000, w.allowedMs, {0, w.allowedMs, 0, 0}, w);
  EXPECT_GE(budget.computeMs(false), budget.targets().minComputeMs);
  for (int f = 0; f < 10; ++f) dev.frame(budget, false);
  EXPECT_NEAR(dev.frame(budget, false), budget.targets().stillFrameMs, 0.15 * budget.targets().stillFrameMs);
}

TEST(FrameBudget, FramesThatOnlyComputeKeepTheirOwnEstimate) {
  // The viewer draws a resting picture a few times a second and only computes in between:
  // those frames cost their compute and ~1 ms besides, the drawn ones 10 ms of drawing.
  // Each kind settles at its own target, and neither pulls the other's estimate of the rest.
  FrameBudget budget({3e7, 3e7, 3e7, 3e7});
  SimulatedDevice dev;
  dev.flopsPerMs = {3e7, 3e7, 3e7, 3e7};
  auto undrawn = [&] {
    FrameWork work = budget.frame(false, false);
    EXPECT_FALSE(work.drawn);
    double pieceFlops = budget.pieceFlops(dev.shape);
    while (work.fits(budget.pieceMs(dev.shape, pieceFlops))) {
      work.predictedMs += budget.pieceMs(dev.shape, pieceFlops);
      work.flops[int(dev.shape)] += pieceFlops;
    }
    std::array<double, kBlockShapes> shapeMs{};
    shapeMs[int(dev.shape)] = work.flops[int(dev.shape)] / dev.flopsPerMs[int(dev.shape)];
    double frameMs = shapeMs[int(dev.shape)] + 1.0;
    budget.observe(frameMs, shapeMs[int(dev.shape)], shapeMs, work);
    return frameMs;
  };
  std::vector<double> drawn, computeOnly;
  for (int f = 0; f < 40; ++f) {
    if (f % 4 == 0) drawn.push_back(dev.frame(budget, true));
    else computeOnly.push_back(undrawn());
  }
  EXPECT_NEAR(budget.otherMs(true), dev.drawMs, 1.0);
  EXPECT_NEAR(budget.otherMs(false), 1.0, 0.5);
  for (size_t f = 5; f < computeOnly.size(); ++f)
    EXPECT_NEAR(computeOnly[f], budget.targets().undrawnFrameMs, 0.15 * budget.targets().undrawnFrameMs) << f;
  for (size_t f = 3; f < drawn.size(); ++f)
    EXPECT_NEAR(drawn[f], budget.targets().movingFrameMs, 0.15 * budget.targets().movingFrameMs) << f;
  // Without drawing, a frame of the same length holds more compute.
  EXPECT_GT(budget.computeMs(false, false), budget.computeMs(false, true) - (budget.targets().stillFrameMs -
                                                                             budget.targets().undrawnFrameMs));
}

TEST(FrameBudget, ShapesAreEstimatedApart) {
  // A 1:1 tile (one key per texel) runs at a tenth of the sweep's rate on lavapipe: learning
  // one shape leaves the other's estimate alone.
  FrameBudget budget({3e7, 3e7, 3e7, 3e7});
  SimulatedDevice dev;
  dev.flopsPerMs = {3e7, 3e7, 3e7, 3e6};
  dev.shape = BlockShape::Short;
  for (int f = 0; f < 15; ++f) dev.frame(budget, false);
  EXPECT_NEAR(budget.flopsPerMs(BlockShape::Short), 3e6, 3e5);
  EXPECT_DOUBLE_EQ(budget.flopsPerMs(BlockShape::Medium), 3e7);
  EXPECT_LT(budget.pieceFlops(BlockShape::Short), budget.pieceFlops(BlockShape::Medium) / 5);
}

class FrameBudgetGpu : public GpuTest {};

// A causal map of 6000 tokens at d = 16 on the test device, and a view of all of it.
struct WholeMapView {
  static constexpr uint32_t n = 6000, d = 16;
  HeadData head;
  AttentionSpec spec;
  Camera cam;
  TileView view;
  WholeMapView(Gpu& g, uint64_t seed)
      : head(upload(g, ref::randomMatrix(n, d, 2.0, seed), ref::randomMatrix(n, d, 2.0, seed + 1))),
        spec(causalSpec(n, d)),
        cam(cameraOver(n, 400, 400)),
        view(*g.ctx, *g.kernels, head, spec, 64 << 20, cam.cellsPerPixel()) {}
};

TEST_F(FrameBudgetGpu, NoFrameBuildsAPipelineAfterTheWarmUps) {
  // lavapipe compiles a pipeline at its first dispatch, 30-300 ms, so a frame that builds one
  // misses its time. startSweep() warms up what the sweep and the tiles use: the sweep to its
  // end (its last strip has few rows), then tiles in the middle and at the map's edges (sides
  // that are not powers of two) at two levels build nothing new.
  Gpu& g = gpu();
  Kernels kernels(*g.ctx, *g.compiler);  // its own: the suite's has built much already
  const uint32_t n = 6000, d = 16;
  HeadData head = upload(g, ref::randomMatrix(n, d, 2.0, 211), ref::randomMatrix(n, d, 2.0, 212));
  AttentionSpec spec = causalSpec(n, d);
  Camera cam = cameraOver(n, 400, 400);
  TileView view(*g.ctx, kernels, head, spec, 64 << 20, cam.cellsPerPixel());
  FrameBudgetTargets t;
  t.stillFrameMs = 40;
  t.movingFrameMs = 30;
  FrameBudget budget({2e7, 2e7, 2e7, 2e7}, t, true);
  std::vector<double> progress;  // what the viewer's start-up frames show
  view.startSweep(budget, [&](double f) { progress.push_back(f); });
  ASSERT_GE(progress.size(), 8u) << "a step per compile, or the window would sit still for seconds";
  EXPECT_TRUE(std::is_sorted(progress.begin(), progress.end()));
  EXPECT_GT(progress.front(), 0.0);
  EXPECT_DOUBLE_EQ(progress.back(), 1.0);
  const std::vector<std::string> warm = kernels.pipelinesBuilt();
  EXPECT_TRUE(std::any_of(warm.begin(), warm.end(), [](const std::string& k) { return k == "stats_merge/64"; }));
  CommandStream stream(*g.ctx);
  auto settle = [&](const char* what) {
    int frames = 0;
    for (bool more = true; more && frames < 5000; ++frames) {
      Recording rec = stream.begin();
      FrameWork work = budget.frame(false);
      more = view.update(rec, cam, budget, work);
      stream.submitAndWait();
    }
    EXPECT_LT(frames, 5000) << what;
    std::vector<std::string> now = kernels.pipelinesBuilt();
    for (const std::string& k : now)
      EXPECT_NE(std::find(warm.begin(), warm.end(), k), warm.end()) << what << " built " << k;
  };
  settle("the sweep");
  EXPECT_TRUE(view.rowStatsReady());
  for (double cpp : {4.0, 1.0})
    for (double at : {1500.0, double(n) - 40}) {
      cam.lookAt(at, at, cpp);
      settle(cpp == 1.0 ? "tiles of one cell per texel" : "tiles of four cells per texel");
    }
}

TEST_F(FrameBudgetGpu, TileViewStopsWhereTheBudgetSays) {
  // A real view on lavapipe: each frame records pieces only while the predicted time fits
  // (one piece always), and every recorded FLOP is counted under its block shape.
  Gpu& g = gpu();
  WholeMapView m(g, 181);
  const uint32_t n = m.n, d = m.d;
  Camera& cam = m.cam;
  TileView& view = m.view;
  FrameBudgetTargets t;
  t.stillFrameMs = 20;  // 8 ms of compute after the 12 ms first guess of drawing
  t.movingFrameMs = 14;  // pieces of a quarter of 2 ms: 1e7 FLOPs, ~1024 keys x 256 rows
  FrameBudget budget({2e7, 2e7, 2e7, 2e7}, t, true /* the speeds are taken as measured */);
  CommandStream stream(*g.ctx);
  int frames = 0, multiPiece = 0;
  double counted = 0;
  for (bool more = true; more && frames < 20000; ++frames) {
    Recording rec = stream.begin();
    FrameWork work = budget.frame(false);
    double before = view.flopsDone();
    more = view.update(rec, cam, budget, work);
    stream.submitAndWait();
    double sum = 0;
    for (double f : work.flops) sum += f;
    EXPECT_DOUBLE_EQ(sum, view.flopsDone() - before);
    counted += sum;
    // Over the budget (and its slack) only by a first piece that alone is larger.
    if (work.predictedMs > work.allowedMs * 1.1) {
      int shapes = 0;
      for (int s = 0; s < kBlockShapes; ++s)
        if (work.flops[s] > 0) {
          ++shapes;
          EXPECT_DOUBLE_EQ(work.predictedMs, budget.pieceMs(BlockShape(s), work.flops[s])) << "frame " << frames;
        }
      EXPECT_EQ(shapes, 1);
    }
    if (work.predictedMs > 3 * budget.targets().pieceOverheadMs && work.predictedMs > budget.pieceMs(BlockShape::Medium, budget.pieceFlops(BlockShape::Medium)) * 1.5)
      ++multiPiece;
  }
  EXPECT_TRUE(view.rowStatsReady()) << "the sweep finished in " << frames << " frames";
  double causal = 2.0 * d * (double(n) * (n + 1) / 2);
  EXPECT_NEAR(counted, causal, 1e-9 * causal) << "the sweep's work, all of it counted";
  EXPECT_GT(frames, 3) << "the budget cuts the sweep into frames";
  EXPECT_GT(multiPiece, 0) << "frames hold several pieces where they fit";
}

TEST_F(FrameBudgetGpu, AShapeNotYetTimedGetsOnePieceAFrame) {
  // The prior (the tuner's speed) may be far off for the sweep's first strips: until a frame
  // has timed the shape, a frame records one piece of it however much time is allowed.
  Gpu& g = gpu();
  WholeMapView m(g, 191);
  FrameBudgetTargets t;
  t.stillFrameMs = 512;  // room for many pieces of 2 ms
  t.movingFrameMs = 14;
  FrameBudget budget({2e7, 2e7, 2e7, 2e7}, t);
  CommandStream stream(*g.ctx);
  auto frame = [&] {
    Recording rec = stream.begin();
    FrameWork work = budget.frame(false);
    m.view.update(rec, m.cam, budget, work);
    stream.submitAndWait();
    return work;
  };
  FrameWork first = frame();
  int shape = -1;
  for (int s = 0; s < kBlockShapes; ++s)
    if (first.flops[s] > 0) shape = s;
  ASSERT_GE(shape, 0);
  EXPECT_FALSE(budget.measured(BlockShape(shape)));
  EXPECT_DOUBLE_EQ(first.predictedMs, budget.pieceMs(BlockShape(shape), first.flops[shape])) << "one piece";
  EXPECT_LT(first.predictedMs, first.allowedMs / 4) << "though many would have fitted";
  // Timed (here: as fast as predicted), the shape gets pieces up to the budget.
  std::array<double, kBlockShapes> shapeMs{};
  shapeMs[shape] = 1.0;  // long enough to count as a sample
  budget.observe(13, 1.0, shapeMs, first);
  EXPECT_TRUE(budget.measured(BlockShape(shape)));
  FrameWork second = frame();
  // Each piece's fixed cost is predicted once per piece: more than one piece's prediction
  // for the frame's FLOPs means several pieces.
  EXPECT_GT(second.predictedMs, budget.pieceMs(BlockShape(shape), second.flops[shape]) + 1e-6)
      << "several pieces once the shape is timed";
}

}  // namespace
}  // namespace attnscope::test
