// The figure of one evaluated region as `render` draws it and the Python package returns it:
// the title, the subtitle that says which attention and which region it is, and the axes.
// One place, so a PNG from the command line and one from a notebook are the same picture.
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "compute/attention_spec.h"
#include "compute/map_job.h"
#include "viz/figure.h"

namespace attnscope {

// A figure's style from the names a user gives (the command line's --agg, --colormap,
// --color-scale, --vmin, --vmax, --width, --height, and the Python package's arguments):
// one line naming what is wrong otherwise.
HeatmapStyle makeHeatmapStyle(const std::string& aggregation, const std::string& colormap,
                              const std::string& colorScale, std::optional<double> vmin,
                              std::optional<double> vmax, uint32_t width, uint32_t height);

// "whole map", or "rows a:b, cols c:d".
std::string describeRegion(const MapRegion& r, uint32_t n);

// texWidth x texHeight: the texels the region was evaluated into (a MapJob's size), for the
// "cells per pixel" part of the subtitle. tokens may be null (no token labels).
FigureSpec mapFigureSpec(const AttentionSpec& spec, const MapRegion& region, const HeatmapStyle& style,
                         const std::string& description, const std::vector<std::string>* tokens,
                         uint32_t texWidth, uint32_t texHeight, uint32_t width, uint32_t height);

}  // namespace attnscope
