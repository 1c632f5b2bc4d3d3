#include "viz/map_figure.h"

#include <cmath>
#include <cstdio>

#include "engine/error.h"
#include "viz/colormap.h"

namespace attnscope {

HeatmapStyle makeHeatmapStyle(const std::string& aggregation, const std::string& colormap,
                              const std::string& colorScale, std::optional<double> vmin,
                              std::optional<double> vmax, uint32_t width, uint32_t height) {
  HeatmapStyle s;
  Colormaps::get().index(colormap);  // throws on an unknown name
  s.colormap = colormap;
  if (aggregation == "max") s.channel = kChannelMax;
  else if (aggregation == "mean") s.channel = kChannelMean;
  else throw Error("unknown aggregation '" + aggregation + "': use max or mean");
  if (colorScale == "log") s.logScale = true;
  else if (colorScale == "lin" || colorScale == "linear") s.logScale = false;
  else throw Error("unknown colour scale '" + colorScale + "': use lin or log");
  if (width < 256 || height < 256 || width > 16384 || height > 16384)
    throw Error("the image must be between 256 and 16384 pixels on each side (got " + std::to_string(width) +
                "x" + std::to_string(height) + ")");
  for (std::optional<double> v : {vmin, vmax})
    if (v && !std::isfinite(*v)) throw Error("the colour range must be finite (got " + std::to_string(*v) + ")");
  s.vmin = vmin;
  s.vmax = vmax;
  if (vmin && vmax && !(*vmin < *vmax)) throw Error("vmin must be smaller than vmax");
  if (s.logScale && vmin && !(*vmin > 0)) throw Error("a log colour scale needs vmin > 0");
  return s;
}

std::string describeRegion(const MapRegion& r, uint32_t n) {
  if (r.rowBegin == 0 && r.colBegin == 0 && r.rowEnd == n && r.colEnd == n) return "whole map";
  return "rows " + std::to_string(r.rowBegin) + ":" + std::to_string(r.rowEnd) + ", cols " +
         std::to_string(r.colBegin) + ":" + std::to_string(r.colEnd);
}

FigureSpec mapFigureSpec(const AttentionSpec& sp, const MapRegion& region, const HeatmapStyle& style,
                         const std::string& description, const std::vector<std::string>* tokens,
                         uint32_t texWidth, uint32_t texHeight, uint32_t width, uint32_t height) {
  FigureSpec fig;
  fig.width = width;
  fig.height = height;
  fig.region = region;
  fig.style = style;
  fig.title = "attention  " + description;
  fig.tokens = tokens && !tokens->empty() ? tokens : nullptr;
  double cellsX = double(region.cols()) / texWidth, cellsY = double(region.rows()) / texHeight;
  char scale[64];
  if (sp.scale) std::snprintf(scale, sizeof scale, "%.6g", *sp.scale);
  else std::snprintf(scale, sizeof scale, "1/sqrt(d)");
  std::string maskText = maskName(sp.mask);
  if (sp.mask == MaskKind::WindowCausal || sp.mask == MaskKind::WindowBoth)
    maskText += " W=" + std::to_string(sp.window);
  char cap[48] = "";
  if (sp.softcap) std::snprintf(cap, sizeof cap, ", soft cap %.6g", *sp.softcap);
  char sub[400];
  std::snprintf(sub, sizeof sub, "n = %u, d = %u, %s mask, scale %s%s, T = %g  |  %s  |  %s per pixel of %.3g x %.3g cells",
                sp.n, sp.d, maskText.c_str(), scale, cap, sp.temperature, describeRegion(region, sp.n).c_str(),
                style.channel == kChannelMax ? "max" : "mean", cellsY, cellsX);
  fig.subtitle = sub;
  return fig;
}

}  // namespace attnscope
