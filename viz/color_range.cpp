#include "viz/color_range.h"

#include <algorithm>
#include <vector>

#include "compute/map_job.h"
#include "viz/camera.h"
#include "viz/tile_view.h"

namespace attnscope {

ColorRange::ColorRange(const HeatmapStyle& style, uint32_t n) : range_{std::max(1e-12, 0.01 / double(n)), 1.0} {
  if (style.vmin) range_.vmin = *style.vmin;
  if (style.vmax) range_.vmax = *style.vmax;
  if (!style.logScale && !style.vmin) range_.vmin = 0;
  if (style.vmin && style.vmax) mode_ = RangeMode::Fixed;  // fixed on the command line
}

void ColorRange::setMode(RangeMode mode) {
  if (mode == mode_) return;
  mode_ = mode;
  fromData_ = false;
  viewFor_ = {};
}

void ColorRange::setFixed(double vmin, double vmax, bool logScale) {
  if (mode_ == RangeMode::Fixed && vmax > vmin && (!logScale || vmin > 0)) range_ = {vmin, vmax};
}

bool ColorRange::wantsSweep(const HeatmapStyle& style, bool grid) const {
  if (fromData_ || (style.vmin && style.vmax)) return false;
  return grid ? mode_ != RangeMode::Fixed : mode_ == RangeMode::WholeMap;
}

void ColorRange::fromSweep(const HeatmapStyle& style, const std::vector<float>& sweepTexels) {
  range_ = chooseRange(sweepTexels, style);
  fromData_ = true;
}

void ColorRange::update(Context& ctx, const HeatmapStyle& style, TileView& tiles, const Camera& camera) {
  if (style.vmin && style.vmax) return;
  if (mode_ == RangeMode::View) fromView(ctx, style, tiles, camera);
}

void ColorRange::fromView(Context& ctx, const HeatmapStyle& style, TileView& tiles, const Camera& camera) {
  CellRect v = camera.visible();
  std::array<double, 6> key{v.x0, v.y0, v.x1, v.y1, double(style.logScale), double(style.channel)};
  if (key == viewFor_ || !tiles.settled(camera)) return;
  std::vector<float> visible;
  for (const DrawTile& t : tiles.drawList(camera)) {
    if (!t.exact) continue;
    std::vector<float> texels = readbackImage(ctx, *t.image);
    uint32_t w = t.image->width(), h = t.image->height();
    double per = (t.cells.x1 - t.cells.x0) / w;
    for (uint32_t y = 0; y < h; ++y) {
      double cy = t.cells.y0 + y * per;
      if (cy + per <= v.y0 || cy >= v.y1) continue;
      for (uint32_t x = 0; x < w; ++x) {
        double cx = t.cells.x0 + x * per;
        if (cx + per <= v.x0 || cx >= v.x1) continue;
        visible.insert(visible.end(), &texels[(size_t(y) * w + x) * 4], &texels[(size_t(y) * w + x) * 4 + 4]);
      }
    }
  }
  if (visible.empty()) return;
  range_ = chooseRange(visible, style);
  viewFor_ = key;
}

}  // namespace attnscope
