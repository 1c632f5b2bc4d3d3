// The viewer's camera and tile scheduling, without a window: zoom about the cursor keeps the
// cell under it fixed (also at n = 10^6 and 64 pixels per cell), the visible tile set, parent
// fallback, LRU eviction under a budget, and invalidation when a parameter changes.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "tests/view_fixture.h"
#include "viz/camera.h"
#include "viz/tile_pyramid.h"

namespace attnscope::test {
namespace {

TEST(Camera, ZoomAboutTheCursorKeepsTheCellUnderIt) {
  Camera cam;
  cam.setViewport(1280, 720);
  cam.setMapSize(1000000);
  std::mt19937 rng(3);
  std::uniform_real_distribution<double> px(0, 1280), py(0, 720);
  // From the whole map down to 64 pixels per cell around one cursor position.
  double x = 913.25, y = 377.5;
  double cx = cam.cellX(x), cy = cam.cellY(y);
  for (int step = 0; step < 400 && cam.cellsPerPixel() > cam.minCellsPerPixel(); ++step) {
    cam.zoomAbout(x, y, 1.1);
    ASSERT_NEAR(cam.cellX(x), cx, 1e-6) << "step " << step;
    ASSERT_NEAR(cam.cellY(y), cy, 1e-6) << "step " << step;
  }
  EXPECT_DOUBLE_EQ(cam.cellsPerPixel(), cam.minCellsPerPixel());
  // At 64 pixels per cell, cell edges land on exact pixel positions.
  double edge = std::ceil(cam.cellX(0));
  EXPECT_NEAR(cam.pixelX(edge + 1) - cam.pixelX(edge), Camera::kMaxPixelsPerCell, 1e-6);
  // And back out, wandering with the cursor: every step keeps its own cursor cell fixed.
  for (int step = 0; step < 300; ++step) {
    double qx = px(rng), qy = py(rng);
    double before = cam.cellX(qx), beforeY = cam.cellY(qy);
    double cpp = cam.cellsPerPixel();
    cam.zoomAbout(qx, qy, 0.93);
    bool clamped = cam.cellsPerPixel() != cpp / 0.93 || cam.cellX(qx) != cam.cellX(qx);
    if (!clamped && std::abs(cam.cellX(qx) - before) > 1e-6 * std::max(1.0, cam.cellsPerPixel())) {
      // Only the "centre stays on the map" clamp may move the view.
      CellRect v = cam.visible();
      double mx = (v.x0 + v.x1) / 2, my = (v.y0 + v.y1) / 2;
      EXPECT_TRUE(mx <= 0 || mx >= 1e6 || my <= 0 || my >= 1e6) << "drift at step " << step;
    }
    (void)beforeY;
  }
}

TEST(Camera, PanFollowsThePointerAndIsReversible) {
  Camera cam;
  cam.setViewport(800, 600);
  cam.setMapSize(100000);
  cam.lookAt(50000.5, 50000.5, 0.25);
  double a = cam.cellX(100), b = cam.cellY(200);
  cam.pan(37, -12);
  EXPECT_NEAR(cam.cellX(137), a, 1e-9);
  EXPECT_NEAR(cam.cellY(188), b, 1e-9);
  cam.pan(-37, 12);
  EXPECT_NEAR(cam.cellX(100), a, 1e-9);
}

TEST(Camera, ZoomIsLimitedAndTheMapStaysInView) {
  Camera cam;
  cam.setViewport(1000, 1000);
  cam.setMapSize(5000);
  cam.zoomAbout(500, 500, 1e-6);  // far out: limited to the whole map
  EXPECT_LE(cam.cellsPerPixel(), cam.maxCellsPerPixel() + 1e-12);
  cam.zoomAbout(500, 500, 1e9);  // far in: limited to 64 pixels per cell
  EXPECT_DOUBLE_EQ(cam.cellsPerPixel(), 1.0 / 64);
  cam.pan(1e9, 1e9);  // flung away: the centre stays on the map
  CellRect v = cam.visible();
  EXPECT_LE(v.x0, 5000.0);
  EXPECT_GE(v.x1, 0.0);
  cam.zoomToBox(100, 100, 300, 200);
  EXPECT_GE(cam.cellsPerPixel(), 1.0 / 64);
}

TEST(TilePyramid, LevelsAndRegions) {
  EXPECT_EQ(coarsestLevel(256), 0u);
  EXPECT_EQ(coarsestLevel(257), 1u);
  EXPECT_EQ(coarsestLevel(100000), 9u);  // 256 * 2^9 = 131072
  EXPECT_EQ(coarsestLevel(1000000), 12u);
  EXPECT_EQ(levelForZoom(0.1, 9), 0u);
  EXPECT_EQ(levelForZoom(1.0, 9), 0u);
  EXPECT_EQ(levelForZoom(3.9, 9), 1u);
  EXPECT_EQ(levelForZoom(4.0, 9), 2u);
  EXPECT_EQ(levelForZoom(1e6, 9), 9u);
  MapRegion r = tileRegion({9, 0, 0}, 100000);
  EXPECT_EQ(r.rowEnd, 100000u);
  EXPECT_EQ(tileTexelsX({9, 0, 0}, 100000), 196u);  // ceil(100000 / 512)
  MapRegion edge = tileRegion({0, 390, 1}, 100000);
  EXPECT_EQ(edge.colBegin, 99840u);
  EXPECT_EQ(edge.colEnd, 100000u);
  EXPECT_EQ(tileTexelsX({0, 390, 1}, 100000), 160u);
}

TEST(TilePyramid, VisibleSetCoversTheViewNearestFirst) {
  Camera cam;
  cam.setViewport(1280, 720);
  cam.setMapSize(100000);
  cam.lookAt(40000, 40000, 1.0);  // one cell per pixel: level 0, 256-cell tiles
  uint32_t level = levelForZoom(cam.cellsPerPixel(), coarsestLevel(100000));
  EXPECT_EQ(level, 0u);
  auto tiles = visibleTiles(cam.visible(), level, 100000);
  // 1280 x 720 cells span 6 or 7 tiles across and 3 or 4 down.
  EXPECT_GE(tiles.size(), 18u);
  EXPECT_LE(tiles.size(), 28u);
  CellRect v = cam.visible();
  for (const TileKey& t : tiles) {
    MapRegion r = tileRegion(t, 100000);
    EXPECT_LT(double(r.colBegin), v.x1);
    EXPECT_GT(double(r.colEnd), v.x0);
  }
  MapRegion first = tileRegion(tiles[0], 100000);
  EXPECT_LE(double(first.colBegin), 40000.0);
  EXPECT_GE(double(first.colEnd), 40000.0);
  // The whole map at the coarsest level is one tile.
  cam.fit();
  EXPECT_EQ(visibleTiles(cam.visible(), 9, 100000).size(), 1u);
}

TEST(TileCache, ParentFallbackEvictionAndInvalidation) {
  TileCache<int> cache(3 * 100);
  const uint32_t top = 3;
  uint64_t gen = cache.generation();
  cache.insert({3, 0, 0}, 30, 100, gen);
  TileKey got;
  // A fine tile not computed yet falls back to the nearest cached ancestor.
  ASSERT_NE(cache.readyAncestor({0, 5, 6}, top, got), nullptr);
  EXPECT_EQ(got, (TileKey{3, 0, 0}));
  cache.insert({1, 1, 1}, 11, 100, gen);
  ASSERT_NE(cache.readyAncestor({0, 2, 3}, top, got), nullptr);
  EXPECT_EQ(got, (TileKey{1, 1, 1}));

  // Over budget: the least recently used goes, unless it is pinned (visible now).
  cache.insert({0, 9, 9}, 99, 100, gen);
  ASSERT_NE(cache.find({3, 0, 0}), nullptr);  // touch the top tile
  cache.insert({0, 8, 8}, 88, 100, gen);        // evicts {1,1,1}, the least recently used
  EXPECT_FALSE(cache.contains({1, 1, 1}));
  EXPECT_TRUE(cache.contains({3, 0, 0}));
  EXPECT_LE(cache.bytesUsed(), 300u);
  cache.insert({0, 7, 7}, 77, 100, gen, [](const TileKey& k) { return k.level == 0 && k.tx == 9; });
  EXPECT_TRUE(cache.contains({0, 9, 9})) << "pinned tiles stay";
  EXPECT_LE(cache.bytesUsed(), 300u);

  // A parameter change: nothing old is ever shown again, and results computed for the old
  // parameters are dropped on arrival.
  cache.invalidate();
  EXPECT_EQ(cache.find({3, 0, 0}), nullptr);
  EXPECT_EQ(cache.readyAncestor({0, 0, 0}, top, got), nullptr);
  cache.insert({2, 0, 0}, 20, 100, gen);  // computed before the change
  EXPECT_FALSE(cache.contains({2, 0, 0}));
  cache.insert({2, 0, 0}, 21, 100, cache.generation());
  ASSERT_NE(cache.find({2, 0, 0}), nullptr);
  EXPECT_EQ(*cache.find({2, 0, 0}), 21);
  EXPECT_LE(cache.bytesUsed(), 300u);
}

}  // namespace
}  // namespace attnscope::test

// TileView on the real device: the sweep settles the whole-map view, a parameter change
// makes every tile stale at once (nothing old is drawn), and the recomputed view matches the
// reference for the new parameters.
#include "compute/kernels.h"
#include "engine/commands.h"
#include "engine/device_memory.h"
#include "engine/vk_check.h"
#include "tests/gpu_fixture.h"
#include "viz/tile_view.h"

namespace attnscope::test {
namespace {

class TileViewGpu : public GpuTest {};

void runUntilSettled(Gpu& g, TileView& view, const Camera& cam) {
  CommandStream stream(*g.ctx);
  for (int frame = 0; frame < 10000; ++frame) {
    Recording rec = stream.begin();
    bool more = view.update(rec, cam, 2e8);
    stream.submitAndWait();
    if (!more) return;
  }
  FAIL() << "the view never settled";
}

TEST_F(TileViewGpu, ParameterChangeNeverShowsStaleTiles) {
  Gpu& g = gpu();
  const uint32_t n = 700, d = 16;
  ref::Matrix q = ref::randomMatrix(n, d, 2.0, 141), k = ref::randomMatrix(n, d, 2.0, 142);
  HeadData head = upload(g, q, k);
  AttentionSpec spec = causalSpec(n, d);
  Camera cam = cameraOver(n, 300, 300);
  TileView view(*g.ctx, *g.kernels, head, spec, 64 << 20, cam.cellsPerPixel());
  EXPECT_FALSE(view.settled(cam));
  runUntilSettled(g, view, cam);
  ASSERT_TRUE(view.settled(cam));
  ASSERT_TRUE(view.rowStatsReady());

  // Zoom to one cell per pixel: fine tiles, computed from the sweep's row statistics.
  cam.lookAt(300, 500, 0.5);
  EXPECT_FALSE(view.settled(cam));
  runUntilSettled(g, view, cam);
  ASSERT_TRUE(view.settled(cam));

  AttentionSpec hot = spec;
  hot.temperature = 0.5;
  view.setSpec(hot);
  EXPECT_FALSE(view.settled(cam)) << "a parameter change makes the view inexact at once";
  for (const DrawTile& t : view.drawList(cam)) EXPECT_FALSE(t.exact) << "stale tile drawn as current";
  runUntilSettled(g, view, cam);
  ASSERT_TRUE(view.settled(cam));
  int checked = 0;
  for (const DrawTile& t : view.drawList(cam)) {
    if (!t.exact) continue;
    std::vector<float> texels = readbackImage(*g.ctx, *t.image);
    uint32_t w = t.image->width();
    for (uint32_t y = 0; y < t.image->height(); y += 17)
      for (uint32_t x = 0; x < w; x += 13) {
        uint32_t i = uint32_t(t.cells.y0) + y, j = uint32_t(t.cells.x0) + x;
        if (i >= n || j >= n) continue;
        double want = ref::probabilityRow(q, k, hot, i)[j];
        ASSERT_NEAR(texels[(size_t(y) * w + x) * 4 + kChannelMean], want, 2e-5 * want + 1e-7) << "cell " << i << "," << j;
        ++checked;
      }
  }
  EXPECT_GT(checked, 20);
}

TEST_F(TileViewGpu, CachedTilesHoldExactlyTheMemoryCountedAndFinishedJobsNone) {
  // What the allocator holds beyond the head must equal what the view says it holds: every
  // cached tile is its image alone (a finished job's partials, row statistics and bounds are
  // freed), and the cache never holds more than its budget.
  Gpu& g = gpu();
  const uint32_t n = 3000, d = 16;
  ref::Matrix q = ref::randomMatrix(n, d, 2.0, 161), k = ref::randomMatrix(n, d, 2.0, 162);
  HeadData head = upload(g, q, k);
  AttentionSpec spec = causalSpec(n, d);
  Camera cam = cameraOver(n, 600, 400);
  uint64_t before = g.ctx->allocator().bytesInUse(), heldBefore = g.ctx->allocator().bytesHeld();
  const uint64_t budget = 8 << 20;  // eight 1 MiB tiles: more than one view (at most 6), fewer than the pans
  {
    TileView view(*g.ctx, *g.kernels, head, spec, budget, cam.cellsPerPixel());
    runUntilSettled(g, view, cam);
    auto check = [&](const char* when) {
      EXPECT_EQ(g.ctx->allocator().bytesInUse() - before, view.deviceBytes()) << when;
      EXPECT_LE(view.cacheBytes(), budget) << when;
    };
    check("after the sweep");
    // Pan over many tiles at one cell per pixel: more than the budget holds.
    for (double x : {300.0, 900.0, 1500.0, 2100.0, 2700.0}) {
      cam.lookAt(x, 2500, 0.5);
      runUntilSettled(g, view, cam);
      check("after a pan");
    }
    EXPECT_GE(view.tilesCached(), 6u);
  }
  EXPECT_EQ(g.ctx->allocator().bytesInUse(), before) << "the view gave back everything";
  EXPECT_EQ(g.ctx->allocator().bytesHeld(), heldBefore) << "and its pages";
}

TEST_F(TileViewGpu, RunningOutOfDeviceMemoryEvictsTheCacheAndTriesOnce) {
  // Injected: the next image allocation fails once. The view frees cached tiles and goes on.
  Gpu& g = gpu();
  const uint32_t n = 3000, d = 16;
  ref::Matrix q = ref::randomMatrix(n, d, 2.0, 171), k = ref::randomMatrix(n, d, 2.0, 172);
  HeadData head = upload(g, q, k);
  AttentionSpec spec = causalSpec(n, d);
  Camera cam = cameraOver(n, 600, 400);
  TileView view(*g.ctx, *g.kernels, head, spec, 64 << 20, cam.cellsPerPixel());
  runUntilSettled(g, view, cam);
  cam.lookAt(600, 2500, 0.5);
  runUntilSettled(g, view, cam);
  size_t cached = view.tilesCached();
  ASSERT_GE(cached, 2u);
  setInjectedFaultForTesting("vkAllocateMemory", VK_ERROR_OUT_OF_DEVICE_MEMORY, 1);
  cam.lookAt(2400, 2500, 0.5);
  runUntilSettled(g, view, cam);
  setInjectedFaultForTesting("", VK_SUCCESS, 0);
  EXPECT_TRUE(view.settled(cam));
  size_t fresh = visibleTiles(cam.visible(), view.targetLevel(cam), n).size();
  EXPECT_LT(view.tilesCached(), cached + fresh) << "cached tiles were freed to make room";
  // With every allocation failing, the error says what ran out.
  setInjectedFaultForTesting("vkAllocateMemory", VK_ERROR_OUT_OF_DEVICE_MEMORY, 1, true);
  cam.lookAt(1500, 1000, 0.5);
  CommandStream stream(*g.ctx);
  std::string message;
  try {
    for (int frame = 0; frame < 100; ++frame) {
      Recording rec = stream.begin();
      view.update(rec, cam, 2e8);
      stream.submitAndWait();
    }
  } catch (const OutOfDeviceMemory& e) {
    message = e.what();
  }
  setInjectedFaultForTesting("", VK_SUCCESS, 0);
  EXPECT_NE(message.find("ran out of memory"), std::string::npos) << message;
  EXPECT_NE(message.find("after freeing"), std::string::npos) << message;
}

}  // namespace
}  // namespace attnscope::test

// Head and layer switches in the viewer: asked for, announced, then read at the start of a
// later frame (HeadViews::applyPending); the grid reads one head per frame.
#include "viz/frame_budget.h"
#include "viz/head_views.h"
#include "viz/viewer_status.h"

namespace attnscope::test {
namespace {

TEST_F(TileViewGpu, HeadSwitchesWaitForTheirFrameAndTheGridReadsAHeadPerFrame) {
  Gpu& g = gpu();
  const uint32_t n = 300, d = 16, heads = 4;
  std::vector<uint32_t> reads;  // (layer << 8 | head) of every read, in order
  HeadLoader loader = [&](Context&, Kernels&, uint32_t layer, uint32_t head) {
    reads.push_back(layer << 8 | head);
    ref::Matrix q = ref::randomMatrix(n, d, 1.0, 500 + head), k = ref::randomMatrix(n, d, 1.0, 600 + head);
    return LoadedHead{upload(g, q, k), std::nullopt};
  };
  HeadViews views(*g.ctx, *g.kernels, loader, causalSpec(n, d), heads, {3, 7}, 16 << 20);
  views.show(3, 0, 1.0);
  ASSERT_EQ(reads, (std::vector<uint32_t>{3u << 8 | 0}));
  Camera cam = cameraOver(n, 200, 200);
  Rect plot{0, 0, 200, 200};

  // Switches add up, relative to the head asked for last, and read nothing yet.
  views.switchHead(+1, 1.0);
  views.switchHead(+2, 1.0);
  EXPECT_TRUE(views.pending());
  EXPECT_EQ(views.head(), 0u) << "the head shown stays until the switch is read";
  EXPECT_EQ(views.targetHead(), 3u);
  EXPECT_FALSE(views.settled(cam, plot)) << "a pending switch is work left";
  EXPECT_NE(viewTitle("t", views).find("reading head 3..."), std::string::npos) << viewTitle("t", views);
  views.switchHead(-3, 1.0);  // back to the head shown: nothing to read
  EXPECT_FALSE(views.pending());
  EXPECT_FALSE(views.applyPending());
  EXPECT_EQ(reads.size(), 1u);

  views.switchLayer(+1, 1.0);
  views.switchHead(-1, 1.0);  // wraps to the last head
  EXPECT_EQ(views.targetLayer(), 7u);
  EXPECT_EQ(views.targetHead(), 3u);
  EXPECT_NE(viewTitle("t", views).find("reading layer 7 head 3..."), std::string::npos) << viewTitle("t", views);
  EXPECT_TRUE(views.applyPending());
  EXPECT_EQ(reads.back(), 7u << 8 | 3u) << "one read, of the head asked for last";
  EXPECT_EQ(reads.size(), 2u);
  EXPECT_EQ(views.layer(), 7u);
  EXPECT_EQ(views.head(), 3u);
  EXPECT_FALSE(views.pending());

  // The grid: each frame's update reads one head, and it settles only once all are read.
  views.setGrid(true);
  FrameBudget budget({3e7, 3e7, 3e7, 3e7});
  CommandStream stream(*g.ctx);
  for (uint32_t frame = 1; frame <= heads; ++frame) {
    Recording rec = stream.begin();
    FrameWork work = budget.frame(false);
    EXPECT_TRUE(views.update(rec, cam, plot, budget, work));
    stream.submitAndWait();
    EXPECT_EQ(views.headsGrid().headsLoaded(), frame);
    EXPECT_EQ(reads.back(), 7u << 8 | (frame - 1));
  }
  EXPECT_FALSE(views.headsGrid().loading());
  EXPECT_EQ(reads.size(), 2u + heads);
  bool settled = false;
  for (int frame = 0; frame < 2000 && !settled; ++frame) {
    Recording rec = stream.begin();
    FrameWork work = budget.frame(false);
    bool more = views.update(rec, cam, plot, budget, work);
    stream.submitAndWait();
    settled = !more && views.settled(cam, plot);
  }
  EXPECT_TRUE(settled);
  EXPECT_EQ(reads.size(), 2u + heads) << "no head read twice";
}

}  // namespace
}  // namespace attnscope::test
