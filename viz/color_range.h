// The viewer's colour range policy: from the whole map (once its sweep is done), from what is
// on screen (recomputed each time the view settles somewhere new), or fixed (--vmin and
// --vmax, or the panel).
#pragma once
#include <array>
#include <cstdint>
#include <vector>

#include "viz/figure.h"

namespace attnscope {

class Camera;
class Context;
class Image;
class TileView;

enum class RangeMode { WholeMap = 0, View = 1, Fixed = 2 };

class ColorRange {
 public:
  // A provisional range (weights of about 1/n and up) until the data gives one; --vmin and
  // --vmax both given fix it.
  ColorRange(const HeatmapStyle& style, uint32_t n);

  const ValueRange& range() const { return range_; }
  RangeMode mode() const { return mode_; }
  void setMode(RangeMode mode);
  void cycle() { setMode(RangeMode((int(mode_) + 1) % 3)); }
  // The style or the data changed: the range is taken from the data again.
  void invalidate() { fromData_ = false; }
  // The panel's fixed range, when it is a usable one.
  void setFixed(double vmin, double vmax, bool logScale);

  // Whether the range is to be taken from the finished sweep now: the main view in WholeMap
  // mode, or the heads grid (the focused head's sweep) in any mode but Fixed.
  bool wantsSweep(const HeatmapStyle& style, bool grid) const;
  // From the finished sweep's texels (readbackImage of it).
  void fromSweep(const HeatmapStyle& style, const std::vector<float>& sweepTexels);
  // Main view in View mode: from the exact tiles on screen, once the view settles.
  void update(Context& ctx, const HeatmapStyle& style, TileView& tiles, const Camera& camera);

 private:
  void fromView(Context& ctx, const HeatmapStyle& style, TileView& tiles, const Camera& camera);
  ValueRange range_;
  RangeMode mode_ = RangeMode::WholeMap;
  bool fromData_ = false;
  std::array<double, 6> viewFor_{};  // the view (and style) the View range was computed for
};

}  // namespace attnscope
