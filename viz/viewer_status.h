// What the viewer says about what it shows: the title over the map, the status line under
// it (when the panel is hidden), and the statistics a scripted run writes.
#pragma once
#include <map>
#include <string>

#include <nlohmann/json.hpp>

#include "viz/head_views.h"

namespace attnscope {

// "<title>  layer 3  head 2 of 8  |  causal  cap 50  T=1"
std::string viewTitle(const std::string& title, const HeadViews& views);

// The cost of what is shown and how far the work is: n, cells, dense bytes, GFLOP so far,
// GPU milliseconds per frame (compute, draw), cached tiles, the sweep; then the hover text.
std::string statusLine(const HeadViews& views, const std::map<std::string, double>& gpuMs, const std::string& hover);

// The view's part of a scripted run's statistics: what is shown and the memory it holds.
nlohmann::json viewStats(Context& ctx, const HeadViews& views, uint64_t cacheBudgetBytes);

}  // namespace attnscope
