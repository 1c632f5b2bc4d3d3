// What a heatmap figure looks like, independent of Vulkan: where the plot, colour bar and
// labels go, which ticks to draw, the value range, and the overlay geometry (text, axes).
#pragma once
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "compute/map_job.h"
#include "viz/font.h"

namespace attnscope {

struct Rect {
  float x = 0, y = 0, w = 0, h = 0;
};

struct HeatmapStyle {
  std::string colormap = "viridis";
  bool logScale = true;
  MapChannel channel = kChannelMean;  // kChannelMax or kChannelMean
  std::optional<double> vmin, vmax;   // fixed range; automatic from the data otherwise
};

struct FigureSpec {
  uint32_t width = 1024, height = 1024;
  std::string title, subtitle;
  std::string xLabel = "key j", yLabel = "query i";
  MapRegion region;
  HeatmapStyle style;
  // The viewer's fractional view in cell space; when set, ticks follow it instead of region.
  bool useView = false;
  double viewX0 = 0, viewY0 = 0, viewX1 = 0, viewY1 = 0;
  bool strips = false;  // the viewer's side strips (layoutFigure(..., true))
  bool ticks = true;    // index ticks along the axes (off for the heads grid)
  // Printable token strings (visibleToken), one per row/column: labels when cells are wide.
  const std::vector<std::string>* tokens = nullptr;
  // Observed / expected by distance from the diagonal (the viewer, after its sweep).
  bool normalize = false;
  const class Image* expected = nullptr;  // R32F, mean p per diagonal band
  uint32_t expectedBlock = 1, expectedCenter = 0;
  std::function<void(class OverlayBuilder&, const struct FigureLayout&)> extraOverlay;
};

struct FigureLayout {
  Rect plot, colorbar;
  Rect topStrip, sideStrip;  // the viewer's strips (empty without them)
};
// withStrips: room for a strip above the plot (attention received per key) and one to its
// right (entropy per row); the plot shrinks by kTopStrip and kSideStrip pixels.
constexpr float kTopStrip = 28, kSideStrip = 36;
FigureLayout layoutFigure(uint32_t width, uint32_t height, bool withStrips = false);

struct Tick {
  float pos;  // pixel along the axis
  std::string label;
};
// Ticks at "nice" token indices (1, 2, 5 x 10^k steps) at cell centres, at least
// minSpacing pixels apart.
std::vector<Tick> indexTicks(double begin, double end, float pixelStart, float pixelLength,
                             float minSpacing);
// Colour bar ticks between vmin and vmax; decades on a log scale. Pixels from the top.
std::vector<Tick> valueTicks(double vmin, double vmax, bool logScale, float pixelStart,
                             float pixelLength);
std::string formatValue(double v);

struct ValueRange {
  double vmin, vmax;
};
// The range shown: fixed where given, else [0, max] (linear) or [a low percentile of the
// positive values, max] (log). texels are RGBA32F from a MapJob.
ValueRange chooseRange(const std::vector<float>& texels, const HeatmapStyle& style);

struct OverlayVertex {
  float x, y, u, v;
  uint32_t rgba;
};

class OverlayBuilder {
 public:
  explicit OverlayBuilder(const FontAtlas& font) : font_(font) {}
  void rect(const Rect& r, uint32_t rgba);
  // align: 0 left, 1 centre, 2 right of x; y is the text's vertical centre.
  void text(const std::string& s, float x, float y, TextSize size, uint32_t rgba, int align = 0);
  // Text turned 90 degrees counter-clockwise, centred on (x, y).
  void verticalText(const std::string& s, float x, float y, TextSize size, uint32_t rgba);
  const std::vector<OverlayVertex>& vertices() const { return v_; }
  const FontAtlas& font() const { return font_; }

 private:
  void quad(float x0, float y0, float x1, float y1, float u0, float v0, float u1, float v1, uint32_t rgba);
  const FontAtlas& font_;
  std::vector<OverlayVertex> v_;
};

// Axes, ticks, labels, titles and the colour bar's frame and ticks.
void buildFigureOverlay(OverlayBuilder& out, const FigureSpec& spec, const FigureLayout& layout,
                        const ValueRange& range);

constexpr uint32_t rgba(uint8_t r, uint8_t g, uint8_t b, uint8_t a = 255) {
  return uint32_t(r) | uint32_t(g) << 8 | uint32_t(b) << 16 | uint32_t(a) << 24;
}
constexpr uint32_t kMaskedColor = rgba(228, 228, 228);

}  // namespace attnscope
