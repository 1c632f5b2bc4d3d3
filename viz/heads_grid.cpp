#include "viz/heads_grid.h"

#include <algorithm>
#include <cmath>

namespace attnscope {

Rect HeadsGrid::cell(uint32_t g, const Rect& plot) const {
  uint32_t cols = uint32_t(std::ceil(std::sqrt(double(count_))));
  uint32_t rows = (count_ + cols - 1) / cols;
  const float gap = 8;
  float w = (plot.w - gap * (cols - 1)) / cols, h = (plot.h - gap * (rows - 1)) / rows;
  float side = std::floor(std::min(w, h));
  uint32_t c = g % cols, r = g / cols;
  return {plot.x + c * (side + gap), plot.y + r * (side + gap), side, side};
}

Camera HeadsGrid::camera(uint32_t g, const Rect& plot, const Camera& main, uint32_t n) const {
  Rect r = cell(g, plot);
  Camera c;
  c.setViewport(r.w, r.h);
  c.setMapSize(n);
  double scale = std::max(plot.w / r.w, plot.h / r.h);
  c.lookAt(main.cellX(plot.w / 2), main.cellY(plot.h / 2), main.cellsPerPixel() * scale);
  return c;
}

int HeadsGrid::cellAt(double x, double y, const Rect& plot) const {
  for (uint32_t g = 0; g < count_; ++g) {
    Rect r = cell(g, plot);
    if (x >= r.x && y >= r.y && x < r.x + r.w && y < r.y + r.h) return int(g);
  }
  return -1;
}

void HeadsGrid::startLoading(HeadReader readHead, Context& ctx, Kernels& kernels, const AttentionSpec& spec,
                             uint64_t cacheBytes) {
  if (reader_ || slots_.size() == count_) return;
  reader_ = std::move(readHead);
  ctx_ = &ctx;
  kernels_ = &kernels;
  spec_ = spec;
  cacheBytes_ = cacheBytes;
}

void HeadsGrid::loadNext(const Rect& plot) {
  uint32_t h = uint32_t(slots_.size());
  Slot s;
  s.head = std::make_unique<HeadData>(reader_(h));
  Camera fit;
  fit.setViewport(cell(h, plot).w, cell(h, plot).h);
  fit.setMapSize(spec_.n);
  fit.fit();
  s.tiles = std::make_unique<TileView>(*ctx_, *kernels_, *s.head, spec_, cacheBytes_ / count_, fit.cellsPerPixel());
  slots_.push_back(std::move(s));
  if (slots_.size() == count_) reader_ = nullptr;
}

void HeadsGrid::setSpec(const AttentionSpec& spec) {
  spec_ = spec;  // heads still to read get it too
  for (auto& s : slots_)
    if (!(s.tiles->spec() == spec)) s.tiles->setSpec(spec);
}

bool HeadsGrid::update(Recording& rec, const Rect& plot, const Camera& main, uint32_t n, const FrameBudget& budget,
                       FrameWork& work) {
  if (reader_) {  // this frame's turn reads a head (no compute: the read took the time)
    loadNext(plot);
    return true;
  }
  for (uint32_t k = 0; k < slots_.size(); ++k) {
    uint32_t g = uint32_t((turn_ + k) % slots_.size());
    if (slots_[g].tiles->update(rec, camera(g, plot, main, n), budget, work)) {
      turn_ = g + 1;
      return true;
    }
  }
  return false;
}

void HeadsGrid::layers(std::vector<HeatmapLayer>& out, const Rect& plot, const Camera& main, uint32_t n) {
  for (uint32_t g = 0; g < slots_.size(); ++g) {
    Rect c = cell(g, plot);
    Camera cam = camera(g, plot, main, n);
    for (const DrawTile& t : slots_[g].tiles->drawList(cam))
      out.push_back({t.image,
                     {float(c.x + cam.pixelX(t.cells.x0)), float(c.y + cam.pixelY(t.cells.y0)),
                      float((t.cells.x1 - t.cells.x0) / cam.cellsPerPixel()),
                      float((t.cells.y1 - t.cells.y0) / cam.cellsPerPixel())},
                     c});
  }
}

bool HeadsGrid::settled(const Rect& plot, const Camera& main, uint32_t n) {
  if (reader_) return false;
  for (uint32_t g = 0; g < slots_.size(); ++g)
    if (!slots_[g].tiles->settled(camera(g, plot, main, n))) return false;
  return true;
}

const Image* HeadsGrid::sweepImage(uint32_t head) const {
  return head < slots_.size() ? slots_[head].tiles->sweepImage() : nullptr;
}

void HeadsGrid::labels(OverlayBuilder& out, const Rect& plot) const {
  for (uint32_t g = 0; g < slots_.size(); ++g) {
    Rect c = cell(g, plot);
    out.rect({c.x, c.y, 58, 18}, rgba(255, 255, 255, 210));
    out.text("head " + std::to_string(g), c.x + 4, c.y + 9, TextSize::Small, rgba(30, 30, 30), 0);
  }
  for (uint32_t g = uint32_t(slots_.size()); g < count_ && reader_; ++g) {
    Rect c = cell(g, plot);
    out.rect({c.x, c.y, 150, 18}, rgba(255, 255, 255, 210));
    std::string what = g == slots_.size() ? "reading..." : "waiting";
    out.text("head " + std::to_string(g) + ": " + what, c.x + 4, c.y + 9, TextSize::Small, rgba(30, 30, 30), 0);
  }
}

}  // namespace attnscope
