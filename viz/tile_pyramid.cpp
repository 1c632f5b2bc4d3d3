#include "viz/tile_pyramid.h"

#include <algorithm>
#include <cmath>

namespace attnscope {

uint64_t tileCells(uint32_t level) { return uint64_t(kTileTexels) << level; }

uint32_t coarsestLevel(uint64_t n) {
  uint32_t l = 0;
  while (tileCells(l) < n) ++l;
  return l;
}

uint32_t levelForZoom(double cellsPerPixel, uint32_t coarsest) {
  if (cellsPerPixel <= 1.0) return 0;
  // 2^l <= cellsPerPixel: texels no larger than a pixel.
  uint32_t l = uint32_t(std::floor(std::log2(cellsPerPixel) + 1e-9));
  return std::min(l, coarsest);
}

MapRegion tileRegion(const TileKey& key, uint64_t n) {
  uint64_t s = tileCells(key.level);
  MapRegion r;
  r.colBegin = std::min<uint64_t>(uint64_t(key.tx) * s, n);
  r.colEnd = std::min<uint64_t>(r.colBegin + s, n);
  r.rowBegin = std::min<uint64_t>(uint64_t(key.ty) * s, n);
  r.rowEnd = std::min<uint64_t>(r.rowBegin + s, n);
  return r;
}

static uint32_t texelsFor(uint64_t cells, uint32_t level) {
  uint64_t per = uint64_t(1) << level;
  return uint32_t((cells + per - 1) / per);
}

uint32_t tileTexelsX(const TileKey& key, uint64_t n) { return texelsFor(tileRegion(key, n).cols(), key.level); }
uint32_t tileTexelsY(const TileKey& key, uint64_t n) { return texelsFor(tileRegion(key, n).rows(), key.level); }

std::vector<TileKey> visibleTiles(const CellRect& view, uint32_t level, uint64_t n) {
  std::vector<TileKey> out;
  double s = double(tileCells(level));
  double x0 = std::max(0.0, view.x0), y0 = std::max(0.0, view.y0);
  double x1 = std::min(double(n), view.x1), y1 = std::min(double(n), view.y1);
  if (x1 <= x0 || y1 <= y0) return out;
  uint32_t tx0 = uint32_t(x0 / s), ty0 = uint32_t(y0 / s);
  uint32_t tx1 = uint32_t(std::ceil(x1 / s)), ty1 = uint32_t(std::ceil(y1 / s));
  for (uint32_t ty = ty0; ty < ty1; ++ty)
    for (uint32_t tx = tx0; tx < tx1; ++tx) out.push_back({level, tx, ty});
  double cx = (x0 + x1) / 2, cy = (y0 + y1) / 2;
  std::sort(out.begin(), out.end(), [&](const TileKey& a, const TileKey& b) {
    auto d = [&](const TileKey& k) {
      double dx = (k.tx + 0.5) * s - cx, dy = (k.ty + 0.5) * s - cy;
      return dx * dx + dy * dy;
    };
    return d(a) < d(b);
  });
  return out;
}

TileKey parentOf(const TileKey& key) { return {key.level + 1, key.tx / 2, key.ty / 2}; }

}  // namespace attnscope
