#include "viz/head_views.h"

#include <algorithm>

#include "engine/context.h"

namespace attnscope {

HeadViews::HeadViews(Context& ctx, Kernels& kernels, const HeadLoader& loader, const AttentionSpec& spec,
                     uint32_t heads, std::vector<uint32_t> layers, uint64_t cacheBytes)
    : ctx_(ctx), kernels_(kernels), loader_(loader), spec_(spec), heads_(heads), layers_(std::move(layers)),
      cacheBytes_(cacheBytes), headsGrid_(heads) {}

HeadViews::~HeadViews() {
  ctx_.waitIdleInDestructor();  // frames in flight use the tiles that go
  headsGrid_.clear();
  tiles_.reset();
}

HeadData HeadViews::load(uint32_t layer, uint32_t head) {
  LoadedHead h = loader_(ctx_, kernels_, layer, head);
  if (h.spec) {
    double t = spec_.temperature;
    spec_ = *h.spec;
    spec_.temperature = t;
  }
  return std::move(h.head);
}

void HeadViews::show(uint32_t layer, uint32_t head, double fitCellsPerPixel) {
  ctx_.waitIdle();  // jobs in flight use the head and tiles that go
  tiles_.reset();
  data_ = std::make_unique<HeadData>(load(layer, head));
  layer_ = layer;
  head_ = head;
  tiles_ = std::make_unique<TileView>(ctx_, kernels_, *data_, spec_, cacheBytes_, fitCellsPerPixel);
  ++changes_;
}

void HeadViews::switchHead(int delta, double fitCellsPerPixel) {
  if (heads_ <= 1) return;
  uint32_t head = uint32_t((int(targetHead()) + delta % int(heads_) + int(heads_)) % int(heads_));
  select(targetLayer(), head, fitCellsPerPixel);
}

void HeadViews::switchLayer(int delta, double fitCellsPerPixel) {
  if (layers_.size() <= 1) return;
  int at = int(std::find(layers_.begin(), layers_.end(), targetLayer()) - layers_.begin());
  int count = int(layers_.size());
  select(layers_[size_t((at + delta % count + count) % count)], targetHead(), fitCellsPerPixel);
}

void HeadViews::select(uint32_t layer, uint32_t head, double fitCellsPerPixel) {
  if (std::find(layers_.begin(), layers_.end(), layer) == layers_.end()) layer = targetLayer();
  if (head >= heads_) head = targetHead();
  if (layer == targetLayer() && head == targetHead()) return;
  if (layer == layer_ && head == head_) pending_.reset();  // back to what is shown
  else pending_ = Pending{layer, head, fitCellsPerPixel};
}

bool HeadViews::applyPending() {
  if (!pending_) return false;
  Pending p = *pending_;
  pending_.reset();
  bool newLayer = p.layer != layer_;
  show(p.layer, p.head, p.fitCellsPerPixel);
  if (newLayer) {
    headsGrid_.clear();  // the small multiples were the old layer's heads
    if (grid_) {
      grid_ = false;
      setGrid(true);
    }
  }
  return true;
}

void HeadViews::setGrid(bool on) {
  if (on == grid_ || heads_ <= 1) return;
  grid_ = on;
  ++changes_;
  if (!on) return;
  headsGrid_.startLoading([this, layer = layer_](uint32_t h) { return load(layer, h); }, ctx_, kernels_, spec_,
                          cacheBytes_);
}

void HeadViews::setSpec(const AttentionSpec& spec) {
  ctx_.waitIdle();  // jobs in flight write images that are about to go
  spec_ = spec;
  tiles_->setSpec(spec_);
  headsGrid_.setSpec(spec_);
  ++changes_;
}

bool HeadViews::update(Recording& rec, const Camera& camera, const Rect& plot, const FrameBudget& budget,
                       FrameWork& work) {
  if (grid_) return headsGrid_.update(rec, plot, camera, spec_.n, budget, work);
  return tiles_->update(rec, camera, budget, work);
}

bool HeadViews::settled(const Camera& camera, const Rect& plot) {
  if (pending_) return false;
  return grid_ ? headsGrid_.settled(plot, camera, spec_.n) : tiles_->settled(camera);
}

const Image* HeadViews::rangeSweep() const { return grid_ ? headsGrid_.sweepImage(head_) : tiles_->sweepImage(); }

}  // namespace attnscope
