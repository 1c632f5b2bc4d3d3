#include "viz/tile_view.h"

#include <algorithm>
#include <cmath>

#include "compute/block_stats_pass.h"
#include "engine/context.h"
#include "engine/device_memory.h"
#include "engine/error.h"
#include "viz/figure_renderer.h"

namespace attnscope {

uint64_t tileCacheBudget(Context& ctx, const Rect& plot, uint64_t asked, uint32_t windowW, uint32_t windowH) {
  uint64_t tile = uint64_t(kTileTexels) * kTileTexels * 16;
  uint64_t view = uint64_t(std::ceil(plot.w / kTileTexels) + 1) * uint64_t(std::ceil(plot.h / kTileTexels) + 1) * tile;
  if (asked) {
    if (asked < view)
      throw Error("--cache-mib " + std::to_string(asked >> 20) + " cannot hold the tiles of one " +
                  std::to_string(windowW) + "x" + std::to_string(windowH) + " view (" +
                  std::to_string((view + (1 << 20) - 1) >> 20) + " MiB): give at least that");
    return asked;
  }
  uint64_t free = ctx.deviceLocalBudget();
  uint64_t pick = std::min<uint64_t>(uint64_t(512) << 20, free ? free / 4 : uint64_t(512) << 20);
  return std::max(pick, view);
}

TileView::TileView(Context& ctx, Kernels& kernels, const HeadData& head, const AttentionSpec& spec,
                   uint64_t cacheBytes, double fitCellsPerPixel)
    : ctx_(ctx), kernels_(kernels), head_(head), spec_(spec),
      sweepLevel_(levelForZoom(fitCellsPerPixel, coarsestLevel(spec.n))),
      cache_(cacheBytes),
      rowStats_(ctx, uint64_t(spec.n) * kStatsBytes, VK_BUFFER_USAGE_STORAGE_BUFFER_BIT, MemoryUse::DeviceLocal,
                "viewer row stats") {}

void TileView::setSpec(const AttentionSpec& spec) {
  spec.validate();
  if (spec.n != spec_.n) throw Error("internal: the viewer cannot change n");
  spec_ = spec;
  cache_.invalidate();
  statsReady_ = false;
  sweepDone_.reset();
  // Jobs in flight hold the old parameters; they are dropped (their results would be stale).
  active_.reset();
  sweep_.reset();
}

uint32_t TileView::targetLevel(const Camera& camera) const {
  return std::min(levelForZoom(camera.cellsPerPixel(), coarsestLevel(spec_.n)), sweepLevel_);
}

// A job's memory comes first from the cache: when the device is full, the least recently
// used half of the cache goes and the job is tried once more; then the error says so.
std::unique_ptr<TileView::Active> TileView::makeActive(const TileKey& key, bool sweep, const FrameBudget& budget) {
  BlockShape shape = blockShapeFor(double(uint64_t(1) << (sweep ? sweepLevel_ : key.level)));
  return std::make_unique<Active>(
      Active{key, cache_.generation(), makeJob(key, sweep, budget.pieceFlops(shape)), sweep, shape});
}

std::unique_ptr<MapJob> TileView::makeJob(const TileKey& key, bool sweep, double pieceFlops) {
  try {
    return createJob(key, sweep, pieceFlops);
  } catch (const OutOfDeviceMemory& e) {
    uint64_t freed = cache_.freeAtLeast(std::max<uint64_t>(cache_.bytesUsed() / 2, 1));
    if (freed == 0) throw;
    try {
      return createJob(key, sweep, pieceFlops);
    } catch (const OutOfDeviceMemory& again) {
      throw OutOfDeviceMemory(std::string(again.what()) + " (after freeing " + std::to_string(freed >> 20) +
                              " MiB of cached tiles)");
    }
  }
}

void TileView::startSweep(const FrameBudget& budget, const std::function<void(double)>& progress) {
  if (active_ || sweep_ || statsReady_) return;
  // Every pipeline the tiles may use, compiled now rather than in the frame that first needs
  // it (a tile of a new block shape cost one frame 280 ms on lavapipe; the sweep's last strip
  // and the first tile after it, 30-70 ms each), on helper devices too where that helps.
  warmUpViewerKernels(ctx_, kernels_, head_, spec_, progress);
  active_ = makeActive(TileKey{sweepLevel_, 0, 0}, true, budget);
  CommandStream stream(ctx_, false);
  Recording rec = stream.begin();
  flopsDone_ += active_->job->recordNext(rec);
  stream.submitAndWait();
}

std::unique_ptr<MapJob> TileView::createJob(const TileKey& key, bool sweep, double pieceFlops) {
  MapJobOptions o;
  o.cellsPerTexel = 1u << key.level;
  // Small pieces: a frame records one or a few, never a whole tile's worth on lavapipe. The
  // size follows the frame budget (update() sets it again as the estimate moves).
  o.flopsPerStrip = pieceFlops;
  if (sweep) {
    o.rowStats = &rowStats_;  // written as a by-product, every row
    o.entropy = true;         // with t, for the entropy strip and the hover readout
  } else if (statsReady_) {
    o.rowStats = &rowStats_;
    o.rowStatsReady = true;
  }
  MapRegion region = sweep ? MapRegion{0, spec_.n, 0, spec_.n} : tileRegion(key, spec_.n);
  return std::make_unique<MapJob>(ctx_, kernels_, head_, spec_, region, 0, 0, o);
}

bool TileView::wanted(const TileKey& key, const Camera& camera) const {
  if (key.level != targetLevel(camera)) return false;
  for (const TileKey& k : visibleTiles(camera.visible(), key.level, spec_.n))
    if (k == key) return true;
  return false;
}

CellRect TileView::cellsOf(const TileKey& key, uint32_t texW, uint32_t texH, bool sweep) const {
  double per = double(uint64_t(1) << (sweep ? sweepLevel_ : key.level));
  if (sweep) return CellRect{0, 0, texW * per, texH * per};
  MapRegion r = tileRegion(key, spec_.n);
  return CellRect{double(r.colBegin), double(r.rowBegin), r.colBegin + texW * per, r.rowBegin + texH * per};
}

void TileView::finishActive(const std::vector<TileKey>& visible) {
  // The job's last strip was submitted in an earlier frame whose fence has been waited for;
  // its scratch goes now, and the cache counts what the image really holds.
  Active& a = *active_;
  CellRect cells = cellsOf(a.key, a.job->width(), a.job->height(), a.sweep);
  Tile tile{a.job->finish(), cells};
  if (a.sweep) {
    statsReady_ = true;
    sweepDone_ = std::make_unique<Tile>(std::move(tile));
  } else {
    uint64_t bytes = tile.image.memoryBytes();
    // Tiles in view are never evicted to make room: they would be computed again at once.
    cache_.insert(a.key, std::move(tile), bytes, a.generation, [&](const TileKey& k) {
      return std::find(visible.begin(), visible.end(), k) != visible.end();
    });
  }
  active_.reset();
}

uint64_t TileView::deviceBytes() const {
  uint64_t b = cache_.bytesUsed() + rowStats_.memoryBytes() + (sweepDone_ ? sweepDone_->image.memoryBytes() : 0);
  if (active_) b += active_->job->deviceBytes();
  if (sweep_) b += sweep_->job->deviceBytes();
  return b;
}

const char* shapeTimerLabel(BlockShape shape) {
  static const char* labels[kBlockShapes] = {"work.long", "work.medium", "work.narrow", "work.short"};
  return labels[int(shape)];
}

bool TileView::update(Recording& rec, const Camera& camera, double flopBudget) {
  // One "millisecond" per MFLOP at every shape, pieces of 4e8: the budget counted in FLOPs.
  FrameBudgetTargets t;
  t.pieceOverheadMs = 0;
  t.movingFrameMs = t.stillFrameMs = 1200 + 12;  // pieces of (1212 - 12) / 3 MFLOP
  FrameBudget flops({1e6, 1e6, 1e6, 1e6}, t, true);
  FrameWork work;
  work.allowedMs = flopBudget / 1e6;
  return update(rec, camera, flops, work);
}

bool TileView::update(Recording& rec, const Camera& camera, const FrameBudget& budget, FrameWork& work) {
  uint32_t level = targetLevel(camera);
  std::vector<TileKey> visible;
  if (level < sweepLevel_) visible = visibleTiles(camera.visible(), level, spec_.n);
  if (active_ && active_->job->done()) finishActive(visible);

  // A fine tile that scrolled out of view is dropped; the sweep is only paused.
  if (active_ && !active_->sweep && !wanted(active_->key, camera)) active_.reset();

  auto missing = [&]() -> const TileKey* {
    for (const TileKey& k : visible)
      if (!cache_.contains(k)) return &k;
    return nullptr;
  };
  for (;;) {
    if (!active_) {
      if (const TileKey* next = missing()) {
        active_ = makeActive(*next, false, budget);
      } else if (!statsReady_) {
        // The whole-map sweep: resumed if paused, else started.
        if (sweep_) active_ = std::move(sweep_);
        else active_ = makeActive(TileKey{sweepLevel_, 0, 0}, true, budget);
      } else {
        return false;  // everything the view asks for is exact
      }
    } else if (active_->sweep) {
      // A visible tile preempts the sweep between pieces.
      if (const TileKey* next = missing()) {
        sweep_ = std::move(active_);
        active_ = makeActive(*next, false, budget);
      }
    }
    MapJob& job = *active_->job;
    BlockShape shape = active_->shape;
    job.setPieceFlops(budget.pieceFlops(shape));  // from its next strip on
    double ms = budget.pieceMs(shape, job.nextPieceFlops());
    if (!work.fits(ms)) break;  // the rest next frame
    double flops;
    {
      TimedScope timed(rec, shapeTimerLabel(shape));
      flops = job.recordNext(rec);
    }
    work.predictedMs += ms;
    work.flops[int(shape)] += flops;
    flopsDone_ += flops;
    if (job.done()) break;  // cached once this frame's submission has finished
    if (!budget.measured(shape)) break;  // one piece until a frame has timed this shape
  }
  return true;
}

std::vector<DrawTile> TileView::drawList(const Camera& camera) {
  std::vector<DrawTile> out;
  uint32_t level = targetLevel(camera);
  auto jobCells = [&](const Active& a) { return cellsOf(a.key, a.job->width(), a.job->height(), a.sweep); };
  // The sweep image, finished or still arriving row by row, is the bottom layer.
  if (sweepDone_) {
    out.push_back({&sweepDone_->image, sweepDone_->cells, sweepLevel_, level == sweepLevel_});
  } else {
    const Active* s = active_ && active_->sweep ? active_.get() : sweep_.get();
    if (s) out.push_back({&s->job->image(), jobCells(*s), sweepLevel_, false});
  }
  if (level >= sweepLevel_) return out;

  std::vector<TileKey> visible = visibleTiles(camera.visible(), level, spec_.n);
  std::vector<TileKey> standIns, exact;
  for (const TileKey& k : visible) {
    if (cache_.contains(k)) {
      exact.push_back(k);
      continue;
    }
    TileKey anc;
    if (k.level + 1 < sweepLevel_ && cache_.readyAncestor(parentOf(k), sweepLevel_ - 1, anc))
      if (std::find(standIns.begin(), standIns.end(), anc) == standIns.end()) standIns.push_back(anc);
  }
  std::sort(standIns.begin(), standIns.end(), [](const TileKey& a, const TileKey& b) { return a.level > b.level; });
  for (const TileKey& k : standIns) {
    Tile* t = cache_.find(k);
    out.push_back({&t->image, t->cells, k.level, false});
  }
  // A fine tile being computed shows its finished strips over its stand-in.
  if (active_ && !active_->sweep) out.push_back({&active_->job->image(), jobCells(*active_), active_->key.level, false});
  for (const TileKey& k : exact) {
    Tile* t = cache_.find(k);
    out.push_back({&t->image, t->cells, k.level, true});
  }
  return out;
}

bool TileView::settled(const Camera& camera) {
  uint32_t level = targetLevel(camera);
  if (level >= sweepLevel_) return statsReady_;
  for (const TileKey& k : visibleTiles(camera.visible(), level, spec_.n))
    if (!cache_.contains(k)) return false;
  return true;
}

double TileView::sweepProgress() const {
  if (statsReady_) return 1.0;
  const Active* s = active_ && active_->sweep ? active_.get() : sweep_.get();
  return s ? s->job->progress() : 0.0;
}

Rect mapClipOnPlot(const Camera& camera, const Rect& plot) {
  double n = double(camera.mapSize());
  double x0 = std::max(0.0, camera.pixelX(0)), y0 = std::max(0.0, camera.pixelY(0));
  double x1 = std::min(double(plot.w), camera.pixelX(n)), y1 = std::min(double(plot.h), camera.pixelY(n));
  return {float(plot.x + x0), float(plot.y + y0), float(std::max(0.0, x1 - x0)), float(std::max(0.0, y1 - y0))};
}

void appendTileLayers(std::vector<HeatmapLayer>& out, const std::vector<DrawTile>& draws, const Camera& camera,
                      const Rect& plot) {
  double cpp = camera.cellsPerPixel();
  for (const DrawTile& t : draws) {
    double w = t.cells.x1 - t.cells.x0, h = t.cells.y1 - t.cells.y0;
    out.push_back({t.image,
                   {float(plot.x + camera.pixelX(t.cells.x0)), float(plot.y + camera.pixelY(t.cells.y0)), float(w / cpp),
                    float(h / cpp)},
                   {0, 0, -1, -1},
                   float(t.cells.x0),
                   float(t.cells.y0),
                   float(w / t.image->width())});
  }
}

}  // namespace attnscope
