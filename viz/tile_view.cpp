#include "viz/tile_view.h"

#include <algorithm>

#include "engine/error.h"

namespace attnscope {

TileView::TileView(Context& ctx, Kernels& kernels, const HeadData& head, const AttentionSpec& spec,
                   uint64_t cacheBytes, double fitCellsPerPixel, double pieceFlops)
    : ctx_(ctx), kernels_(kernels), head_(head), spec_(spec),
      sweepLevel_(levelForZoom(fitCellsPerPixel, coarsestLevel(spec.n))),
      cache_(cacheBytes),
      rowStats_(ctx, uint64_t(spec.n) * kStatsBytes, VK_BUFFER_USAGE_STORAGE_BUFFER_BIT, MemoryUse::DeviceLocal,
                "viewer row stats"),
      pieceFlops_(pieceFlops) {}

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

std::unique_ptr<MapJob> TileView::makeJob(const TileKey& key, bool sweep) {
  MapJobOptions o;
  o.cellsPerTexel = 1u << key.level;
  // Small pieces: a frame records one or a few, never a whole tile's worth on lavapipe.
  o.flopsPerStrip = pieceFlops_;
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

void TileView::finishActive() {
  // The job's last strip was submitted in an earlier frame whose fence has been waited for.
  Active& a = *active_;
  if (a.sweep) {
    statsReady_ = true;
    sweepDone_ = std::shared_ptr<MapJob>(std::move(a.job));
    active_.reset();
    return;
  }
  uint64_t bytes = uint64_t(a.job->width()) * a.job->height() * 16;
  cache_.insert(a.key, std::shared_ptr<MapJob>(std::move(a.job)), bytes, a.generation);
  active_.reset();
}

bool TileView::update(Recording& rec, const Camera& camera, double flopBudget) {
  if (active_ && active_->job->done()) finishActive();

  uint32_t level = targetLevel(camera);
  std::vector<TileKey> visible;
  if (level < sweepLevel_) visible = visibleTiles(camera.visible(), level, spec_.n);
  // A fine tile that scrolled out of view is dropped; the sweep is only paused.
  if (active_ && !active_->sweep && !wanted(active_->key, camera)) active_.reset();

  auto missing = [&]() -> const TileKey* {
    for (const TileKey& k : visible)
      if (!cache_.contains(k)) return &k;
    return nullptr;
  };
  double spent = 0;
  while (spent < flopBudget) {
    if (!active_) {
      if (const TileKey* next = missing()) {
        active_ = std::make_unique<Active>(Active{*next, cache_.generation(), makeJob(*next, false), false});
      } else if (!statsReady_) {
        // The whole-map sweep: resumed if paused, else started.
        if (sweep_) {
          active_ = std::move(sweep_);
        } else {
          TileKey whole{sweepLevel_, 0, 0};
          active_ = std::make_unique<Active>(Active{whole, cache_.generation(), makeJob(whole, true), true});
        }
      } else {
        return false;  // everything the view asks for is exact
      }
    } else if (active_->sweep) {
      // A visible tile preempts the sweep between strips.
      if (const TileKey* next = missing()) {
        sweep_ = std::move(active_);
        active_ = std::make_unique<Active>(Active{*next, cache_.generation(), makeJob(*next, false), false});
      }
    }
    MapJob& job = *active_->job;
    double before = job.progress();
    job.recordNext(rec);
    double work = (job.progress() - before) * job.totalFlops();
    spent += std::max(work, 1e6);
    flopsDone_ += work;
    if (job.done()) break;  // cached once this frame's submission has finished
  }
  return true;
}

std::vector<DrawTile> TileView::drawList(const Camera& camera) {
  std::vector<DrawTile> out;
  uint32_t level = targetLevel(camera);
  auto cellsOf = [&](const TileKey& k, const MapJob& job) {
    MapRegion r = tileRegion(k, spec_.n);
    double per = double(1u << k.level);
    return CellRect{double(r.colBegin), double(r.rowBegin), r.colBegin + job.width() * per,
                    r.rowBegin + job.height() * per};
  };
  auto wholeOf = [&](const MapJob& job) {
    double per = double(1u << sweepLevel_);
    return CellRect{0, 0, job.width() * per, job.height() * per};
  };
  // The sweep image, finished or still arriving row by row, is the bottom layer.
  if (sweepDone_) {
    out.push_back({&sweepDone_->image(), wholeOf(*sweepDone_), sweepLevel_, level == sweepLevel_});
  } else {
    const Active* s = active_ && active_->sweep ? active_.get() : sweep_.get();
    if (s) out.push_back({&s->job->image(), wholeOf(*s->job), sweepLevel_, false});
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
    auto* job = cache_.find(k);
    out.push_back({&(*job)->image(), cellsOf(k, **job), k.level, false});
  }
  // A fine tile being computed shows its finished strips over its stand-in.
  if (active_ && !active_->sweep)
    out.push_back({&active_->job->image(), cellsOf(active_->key, *active_->job), active_->key.level, false});
  for (const TileKey& k : exact) {
    auto* job = cache_.find(k);
    out.push_back({&(*job)->image(), cellsOf(k, **job), k.level, true});
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

}  // namespace attnscope
