#include "viz/control_panel.h"

#include <algorithm>

#include <imgui.h>
#include <backends/imgui_impl_glfw.h>
#include <backends/imgui_impl_vulkan.h>

#include <cmath>
#include <cstdio>

#include "engine/context.h"
#include "engine/error.h"
#include "viz/colormap.h"
#include "viz/font.h"

namespace attnscope {

namespace {

std::string human(double v, const char* unit) {
  char buf[64];
  const char* p[] = {"", "k", "M", "G", "T", "P", "E"};
  int i = 0;
  while (std::abs(v) >= 1000 && i < 6) {
    v /= 1000;
    ++i;
  }
  std::snprintf(buf, sizeof buf, "%.3g %s%s", v, p[i], unit);
  return buf;
}

}  // namespace

ControlPanel::ControlPanel(Context& ctx, GLFWwindow* window, VkRenderPass renderPass, uint32_t imageCount)
    : imgui_(ctx, window, renderPass, imageCount) {}

ControlPanel::~ControlPanel() = default;

bool ControlPanel::wantsMouse() const { return visible_ && imgui_.wantsMouse(); }
bool ControlPanel::wantsKeyboard() const { return visible_ && imgui_.wantsKeyboard(); }

void ControlPanel::build(ViewControls& c) {
  imgui_.newFrame();
  if (!visible_) return;
  // Top right, its right edge left of the colour bar: over the masked triangle of causal maps.
  ImGui::SetNextWindowPos(ImVec2(ImGui::GetIO().DisplaySize.x - 125, 62), ImGuiCond_FirstUseEver, ImVec2(1, 0));
  ImGui::Begin("attention", nullptr, ImGuiWindowFlags_AlwaysAutoResize);

  if (c.layers.size() > 1) {
    // The slider moves over positions in the list: layer numbers need not be contiguous.
    int at = int(std::find(c.layers.begin(), c.layers.end(), c.layer) - c.layers.begin());
    if (ImGui::SliderInt("layer (, .)", &at, 0, int(c.layers.size()) - 1, std::to_string(c.layer).c_str()))
      c.layer = c.layers[std::clamp(at, 0, int(c.layers.size()) - 1)];
  }
  if (c.heads > 1) {
    ImGui::SliderInt("head", &c.head, 0, c.heads - 1);
    ImGui::Checkbox("all heads, linked (G); click one to focus it", &c.grid);
  }
  const char* masks[] = {"none", "causal", "window (causal)", "window (two-sided)"};
  int mask = int(c.spec.mask);
  if (ImGui::Combo("mask", &mask, masks, 4)) {
    c.spec.mask = MaskKind(mask);
    if (c.spec.window == 0) c.spec.window = 256;
  }
  if (c.spec.mask == MaskKind::WindowCausal || c.spec.mask == MaskKind::WindowBoth) {
    int w = int(c.spec.window);
    if (ImGui::InputInt("window W", &w, 1, 64)) c.spec.window = uint32_t(std::clamp<int64_t>(w, 1, c.spec.n));
  }
  bool defaultScale = !c.spec.scale.has_value();
  if (ImGui::Checkbox("scale 1/sqrt(d)", &defaultScale))
    c.spec.scale = defaultScale ? std::nullopt : std::optional<double>(1.0 / std::sqrt(double(c.spec.d)));
  if (c.spec.scale) {
    float s = float(*c.spec.scale);
    if (ImGui::SliderFloat("scale", &s, 0.001f, 4.0f, "%.4f", ImGuiSliderFlags_Logarithmic) && s > 0) c.spec.scale = s;
  }
  bool capped = c.spec.softcap.has_value();
  if (ImGui::Checkbox("soft cap C tanh(s / C)", &capped)) c.spec.softcap = capped ? std::optional<double>(50.0) : std::nullopt;
  if (c.spec.softcap) {
    float cap = float(*c.spec.softcap);
    if (ImGui::SliderFloat("cap C", &cap, 0.1f, 100.0f, "%.2f", ImGuiSliderFlags_Logarithmic) && cap > 0) c.spec.softcap = cap;
  }
  float t = float(c.spec.temperature);
  if (ImGui::SliderFloat("temperature", &t, 0.05f, 20.0f, "%.3f", ImGuiSliderFlags_Logarithmic) && t > 0)
    c.spec.temperature = t;

  ImGui::Separator();
  const auto& names = Colormaps::get().names();
  int cm = int(Colormaps::get().index(c.style.colormap));
  if (ImGui::BeginCombo("colormap", names[cm].c_str())) {
    for (int i = 0; i < int(names.size()); ++i)
      if (ImGui::Selectable(names[i].c_str(), i == cm)) c.style.colormap = names[i];
    ImGui::EndCombo();
  }
  int scaleType = c.style.logScale ? 1 : 0;
  ImGui::RadioButton("lin", &scaleType, 0);
  ImGui::SameLine();
  ImGui::RadioButton("log", &scaleType, 1);
  c.style.logScale = scaleType == 1;
  int agg = c.style.channel == kChannelMax ? 0 : 1;
  ImGui::SameLine();
  ImGui::Text("  per pixel:");
  ImGui::SameLine();
  ImGui::RadioButton("max", &agg, 0);
  ImGui::SameLine();
  ImGui::RadioButton("mean", &agg, 1);
  c.style.channel = agg == 0 ? kChannelMax : kChannelMean;
  ImGui::Checkbox("observed / expected by distance (N)", &c.normalize);
  const char* ranges[] = {"colour range: whole map", "colour range: this view", "colour range: fixed"};
  ImGui::Combo("##range", &c.rangeMode, ranges, 3);
  if (c.rangeMode == 2) {
    ImGuiSliderFlags f = c.style.logScale ? ImGuiSliderFlags_Logarithmic : 0;
    ImGui::SliderFloat("min", &c.vmin, c.style.logScale ? 1e-12f : 0.0f, 1.0f, "%.3g", f);
    ImGui::SliderFloat("max", &c.vmax, c.style.logScale ? 1e-12f : 0.0f, 1.0f, "%.3g", f);
  }
  if (ImGui::Button("whole map (R)")) c.fitRequested = true;
  ImGui::SameLine();
  if (ImGui::Button("screenshot (S)")) c.screenshotRequested = true;

  ImGui::Separator();
  double n = c.spec.n;
  ImGui::Text("n = %.0f tokens: n^2 = %s cells", n, human(n * n, "").c_str());
  ImGui::Text("a dense float32 map: %s", human(n * n * 4, "B").c_str());
  ImGui::Text("FLOPs so far: %s", human(c.flops, "FLOP").c_str());
  ImGui::Text("last frame GPU: %.1f ms compute, %.1f ms draw", c.computeMs, c.drawMs);
  ImGui::Text("tiles cached: %zu (%s)", c.tiles, human(double(c.cacheBytes), "B").c_str());
  ImGui::ProgressBar(float(c.sweep), ImVec2(-1, 0), c.sweep >= 1 ? "whole map: exact" : "whole map: sweeping");
  if (!c.hover.empty()) ImGui::TextWrapped("%s", c.hover.c_str());
  ImGui::End();
}

void ControlPanel::record(VkCommandBuffer cmd) { imgui_.record(cmd, visible_); }

}  // namespace attnscope
