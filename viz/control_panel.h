// The viewer's control panel (Dear ImGui): head, mask, window, scale, temperature, colormap,
// scale type, aggregation and colour range, with the figures that teach the quadratic cost
// and a progress bar for the whole-map sweep. It edits a ViewControls; the viewer applies it.
#pragma once
#include <volk.h>

#include <functional>
#include <string>
#include <vector>

#include "compute/attention_spec.h"
#include "viz/figure.h"
#include "viz/imgui_layer.h"

struct GLFWwindow;

namespace attnscope {

class Context;

struct ViewControls {
  AttentionSpec spec;
  HeatmapStyle style;
  int rangeMode = 0;  // 0: from the whole map, 1: from this view (when it settles), 2: fixed
  float vmin = 1e-6f, vmax = 1.0f;
  int head = 0, heads = 1;
  std::vector<uint32_t> layers;  // layer numbers of the input (empty: one layer)
  uint32_t layer = 0;
  bool grid = false;  // all heads as small multiples
  bool normalize = false;  // observed / expected by distance from the diagonal
  // Read-only figures shown in the panel.
  double flops = 0, computeMs = 0, drawMs = 0, sweep = 0;
  size_t tiles = 0;
  uint64_t cacheBytes = 0;
  std::string hover;
  bool fitRequested = false, screenshotRequested = false;
};

class ControlPanel {
 public:
  ControlPanel(Context& ctx, GLFWwindow* window, VkRenderPass renderPass, uint32_t imageCount);
  ~ControlPanel();
  ControlPanel(const ControlPanel&) = delete;
  ControlPanel& operator=(const ControlPanel&) = delete;

  // Builds this frame's panel; the caller compares `c` before and after.
  void build(ViewControls& c);
  // Draws it (inside the render pass).
  void record(VkCommandBuffer cmd);
  bool wantsMouse() const;
  bool wantsKeyboard() const;
  void setVisible(bool v) { visible_ = v; }
  bool visible() const { return visible_; }

 private:
  ImGuiLayer imgui_;
  bool visible_ = true;
};

}  // namespace attnscope
