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
  if (heads_ > 1) show(layer_, uint32_t((int(head_) + delta + int(heads_)) % int(heads_)), fitCellsPerPixel);
}

void HeadViews::switchLayer(int delta, double fitCellsPerPixel, const Rect& plot) {
  if (layers_.size() <= 1) return;
  size_t at = std::find(layers_.begin(), layers_.end(), layer_) - layers_.begin();
  show(layers_[(at + layers_.size() + delta) % layers_.size()], head_, fitCellsPerPixel);
  headsGrid_.clear();  // the small multiples were the old layer's heads
  if (grid_) {
    grid_ = false;
    setGrid(true, plot);
  }
}

void HeadViews::select(uint32_t layer, uint32_t head, double fitCellsPerPixel, const Rect& plot) {
  if (layer != layer_) {
    auto at = std::find(layers_.begin(), layers_.end(), layer);
    auto now = std::find(layers_.begin(), layers_.end(), layer_);
    if (at != layers_.end()) switchLayer(int(at - now), fitCellsPerPixel, plot);
  }
  if (head != head_ && head < heads_) switchHead(int(head) - int(head_), fitCellsPerPixel);
}

void HeadViews::setGrid(bool on, const Rect& plot) {
  if (on == grid_ || heads_ <= 1) return;
  grid_ = on;
  ++changes_;
  if (!on) return;
  ctx_.waitIdle();
  headsGrid_.load([&](uint32_t h) { return load(layer_, h); }, ctx_, kernels_, spec_, cacheBytes_, plot);
  headsGrid_.setSpec(spec_);
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
  return grid_ ? headsGrid_.settled(plot, camera, spec_.n) : tiles_->settled(camera);
}

const Image* HeadViews::rangeSweep() const { return grid_ ? headsGrid_.sweepImage(head_) : tiles_->sweepImage(); }

}  // namespace attnscope
