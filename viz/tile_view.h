// The viewer's tiles: what the camera needs, computed a budget at a time, cached, and drawn
// with coarser stand-ins until they are ready. Compute only records; the viewer submits.
#pragma once
#include <memory>
#include <vector>

#include "compute/kernels.h"
#include "compute/map_job.h"
#include "viz/camera.h"
#include "viz/figure.h"
#include "viz/frame_budget.h"
#include "viz/tile_pyramid.h"

namespace attnscope {

// A finished tile: its image and the cells its texel grid covers. What the cache keeps of
// a job; the job's scratch is freed when it finishes.
struct Tile {
  Image image;
  CellRect cells;
};

struct DrawTile {
  const Image* image;
  CellRect cells;  // the cells its texel grid covers (may extend past the map's edge)
  uint32_t level;
  bool exact;      // the tile the view asked for (not a stand-in, not in progress)
};

struct HeatmapLayer;

// The draw list as the figure renderer's layers: each tile placed on the plot.
void appendTileLayers(std::vector<HeatmapLayer>& out, const std::vector<DrawTile>& draws, const Camera& camera,
                      const Rect& plot);

// The plot, clipped to the part of it the map covers.
Rect mapClipOnPlot(const Camera& camera, const Rect& plot);

// A tile cache budget for a plot: `asked` (bytes), else a quarter of the device memory still
// free (VK_EXT_memory_budget where offered) and at most 512 MiB. It must hold one view's tiles
// (visible tiles are never evicted), so asking for less is an Error with the size needed.
uint64_t tileCacheBudget(Context& ctx, const Rect& plot, uint64_t asked, uint32_t windowW, uint32_t windowH);

class TileView {
 public:
  // fitCellsPerPixel: the zoom of the whole-map view; the sweep is computed at that level
  // and serves every view that coarse, so the whole map is swept once, not twice.
  TileView(Context& ctx, Kernels& kernels, const HeadData& head, const AttentionSpec& spec,
           uint64_t cacheBytes, double fitCellsPerPixel);

  // New parameters: every cached tile is stale at once and the sweep starts again.
  void setSpec(const AttentionSpec& spec);
  const AttentionSpec& spec() const { return spec_; }

  // Call once a frame after the previous frame's submission has completed. Records compute
  // for the camera's view while the budget predicts it fits in work.allowedMs (at least one
  // piece), each piece timed under its block shape's label (shapeTimerLabel) and counted in
  // `work`. Returns true while work remains.
  bool update(Recording& rec, const Camera& camera, const FrameBudget& budget, FrameWork& work);
  // The same with the budget in FLOPs and pieces of about 4e8 (tests).
  bool update(Recording& rec, const Camera& camera, double flopBudget);
  // Starts the whole-map sweep now with its first piece, blocking, after a tiny dispatch of
  // every block_stats variant the tiles may use: lavapipe makes a pipeline's machine code at
  // its first dispatch, and the sweep's image and scratch are touched for the first time
  // (50-90 ms in all at 100k), which would otherwise land on later frames. Call before
  // frames start. `progress` follows the warm-ups (seconds on a machine's first run).
  void startSweep(const FrameBudget& budget, const std::function<void(double)>& progress = {});
  // What to draw, coarse first, finer on top.
  std::vector<DrawTile> drawList(const Camera& camera);
  // Every tile the view asks for is computed exactly.
  bool settled(const Camera& camera);

  uint32_t targetLevel(const Camera& camera) const;
  uint32_t sweepLevel() const { return sweepLevel_; }
  // The finished whole-map sweep image (null until done): for the colour range.
  const Image* sweepImage() const { return sweepDone_ ? &sweepDone_->image : nullptr; }
  // Every row's online-softmax state vec4(m, l, t, 0); complete once rowStatsReady().
  const Buffer& rowStatsBuffer() const { return rowStats_; }
  double sweepProgress() const;  // the whole-map pass that also yields every row's statistics
  bool rowStatsReady() const { return statsReady_; }
  double flopsDone() const { return flopsDone_; }
  size_t tilesCached() const { return cache_.size(); }
  uint64_t cacheBytes() const { return cache_.bytesUsed(); }
  // Device memory the view holds: cached tiles, the sweep, the row statistics and the jobs
  // under way. Counted from what each object holds, so a test can hold it against the
  // allocator's own count.
  uint64_t deviceBytes() const;

 private:
  struct Active {
    TileKey key;
    uint64_t generation;
    std::unique_ptr<MapJob> job;
    bool sweep;
    BlockShape shape;  // of its block_stats work: what its pieces cost per FLOP
  };
  std::unique_ptr<Active> makeActive(const TileKey& key, bool sweep, const FrameBudget& budget);
  std::unique_ptr<MapJob> makeJob(const TileKey& key, bool sweep, double pieceFlops);
  std::unique_ptr<MapJob> createJob(const TileKey& key, bool sweep, double pieceFlops);
  CellRect cellsOf(const TileKey& key, uint32_t texW, uint32_t texH, bool sweep) const;
  void finishActive(const std::vector<TileKey>& visible);
  bool wanted(const TileKey& key, const Camera& camera) const;

  Context& ctx_;
  Kernels& kernels_;
  const HeadData& head_;
  AttentionSpec spec_;
  uint32_t sweepLevel_;
  TileCache<Tile> cache_;
  std::unique_ptr<Tile> sweepDone_;
  Buffer rowStats_;
  bool statsReady_ = false;
  std::unique_ptr<Active> active_;
  std::unique_ptr<Active> sweep_;  // a paused sweep, resumed when nothing visible is missing
  double flopsDone_ = 0;
};

// The GPU timer label of the work of one block shape ("work.long", ...), which the viewer
// reads back to measure the device's speed per shape.
const char* shapeTimerLabel(BlockShape shape);

}  // namespace attnscope
