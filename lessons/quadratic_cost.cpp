// Lesson 7, the quadratic cost, timed on this device.
#include "lessons/quadratic_cost.h"

#include <imgui.h>

#include "compute/synthetic.h"
#include "engine/context.h"
#include "lessons/lesson_common.h"

namespace attnscope::lessons {

QuadraticCostLesson::QuadraticCostLesson(std::vector<uint32_t> ns, uint32_t d, double measureCells)
    : ns_(std::move(ns)), d_(d), measureCells_(measureCells) {
  numbers_.resize(ns_.size());
}

std::string QuadraticCostLesson::stepTitle(size_t step) const {
  return "n = " + groupedNumber(ns_[step]) + " tokens";
}

const QuadraticCostLesson::Numbers& QuadraticCostLesson::numbers(LessonEnv& env, size_t step) {
  if (numbers_[step]) return *numbers_[step];
  auto num = std::make_unique<Numbers>();
  uint32_t n = ns_[step];
  num->n = n;
  num->d = d_;
  num->device = env.ctx.caps().name;
  SyntheticSpec syn;
  syn.n = n;
  syn.d = d_;
  syn.withV = false;
  HeadData head = generateHead(env.ctx, env.kernels, syn);
  AttentionSpec spec = specFor(n, d_, MaskKind::Causal, std::nullopt);
  num->cells = double(n) * n;
  num->unmaskedCells = double(spec.unmaskedCells(0, n, 0, n));
  num->denseBytes = 4.0 * num->cells;
  num->flops = 2.0 * d_ * num->unmaskedCells;
  // Time the row statistics of the last rows (the longest, causal) against all their keys:
  // every row when that is cheap enough here, else as many as `measureCells_` allows.
  uint32_t rows = uint32_t(std::clamp(measureCells_ / n, 1.0, double(n)));
  num->rowsTimed = rows;
  RowStatsPass pass(env.ctx, env.kernels, n, rows, head.dp());
  Buffer stats(env.ctx, uint64_t(rows) * kStatsBytes, VK_BUFFER_USAGE_STORAGE_BUFFER_BIT, MemoryUse::DeviceLocal,
               "lesson stats");
  CommandStream stream(env.ctx);
  double best = 1e300;
  for (int rep = 0; rep < 2; ++rep) {
    stream.timer().clearTotals();
    Recording rec = stream.begin();
    pass.record(rec, head, spec, n - rows, n, stats, n - rows);
    auto t0 = std::chrono::steady_clock::now();
    stream.submitAndWait();
    double wall = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    const auto& totals = stream.timer().totalsMs();
    best = std::min(best, totals.count("row_stats") ? totals.at("row_stats") : wall);
  }
  num->timedMs = best;
  double timedCells = double(spec.unmaskedCells(n - rows, n, 0, n));
  num->wholeMs = rows == n ? best : best * num->unmaskedCells / timedCells;
  // The map: all of it up to 2048 tokens, else its first 2048 x 2048 cells.
  num->mapN = std::min(n, 2048u);
  uint32_t texels = std::min(num->mapN, 512u);
  num->map = std::make_shared<MapJob>(env.ctx, env.kernels, head, spec, MapRegion{0, num->mapN, 0, num->mapN}, texels,
                                      texels);
  while (!num->map->done()) {
    Recording rec = stream.begin();
    num->map->recordNext(rec);
    stream.submitAndWait();
  }
  HeatmapStyle style;
  num->range = chooseRange(readbackImage(env.ctx, num->map->image()), style);
  numbers_[step] = std::move(num);
  return *numbers_[step];
}

Scene QuadraticCostLesson::draw(LessonEnv& env, size_t step, uint32_t width, uint32_t height) {
  const Numbers& num = numbers(env, step);
  Slide slide(env.font, width, height, env.reserveRight);
  slide.header(title(), step, steps(), stepTitle(step));
  slide.formula({{"QK\u1d40 is "}, {"n \u00d7 n", true}, {": every token scores every other"}});
  Rect c = slide.content();
  // The slider: n on a log axis from the first to the last step.
  float sx = c.x + 40 * slide.scale(), sw = c.w - 80 * slide.scale(), sy = c.y + 18 * slide.scale();
  slide.rect({sx, sy - 2, sw, 4}, kRule);
  double l0 = std::log10(double(ns_.front())), l1 = std::log10(double(ns_.back()));
  for (size_t i = 0; i < ns_.size(); ++i) {
    float x = sx + float((std::log10(double(ns_[i])) - l0) / std::max(1e-9, l1 - l0)) * sw;
    slide.rect({x - 2, sy - 8, 4, 16}, i == step ? kAccent : kSoftInk);
    slide.text(groupedNumber(ns_[i]), x, sy + 22 * slide.scale(), TextSize::Small, i == step ? kAccent : kSoftInk, 1);
  }
  float top = sy + 50 * slide.scale();
  float side = std::min(c.h - (top - c.y) - 30 * slide.scale(), c.w * 0.42f);
  Rect map{c.x + 20 * slide.scale(), top + 24 * slide.scale(), side, side};
  HeatmapStyle style;
  slide.panel({&num.map->image(), map, style, num.range});
  slide.frame(map, 1, kRule);
  std::string mapTitle = num.mapN == num.n ? "the whole map, " + groupedNumber(num.n) + " \u00d7 " + groupedNumber(num.n)
                                           : "its first " + groupedNumber(num.mapN) + " \u00d7 " + groupedNumber(num.mapN) +
                                                 " cells (" + formatNumber(100.0 * num.mapN * num.mapN / num.cells, 4) + " %)";
  slide.text(mapTitle, map.x + map.w / 2, top + 8 * slide.scale(), slide.bodySize(), kInk, 1);
  float tx = map.x + map.w + 50 * slide.scale(), ty = top + 20 * slide.scale(), line = 44 * slide.scale();
  auto fact = [&](const std::string& label, const std::string& value) {
    slide.text(label, tx, ty, slide.bodySize(), kSoftInk);
    slide.text(value, tx, ty + line * 0.45f, slide.titleSize(), kInk);
    ty += line * 1.25f;
  };
  fact("cells in the map (n\u00b2)", groupedNumber(num.cells));
  fact("as a dense float32 matrix", byteText(num.denseBytes));
  fact("FLOPs for its row statistics (2d per causal cell, d = " + std::to_string(num.d) + ")", groupedNumber(num.flops));
  std::string timed = num.rowsTimed == num.n
                          ? formatNumber(num.timedMs, num.timedMs < 10 ? 2 : 0) + " ms, every row"
                          : formatNumber(num.wholeMs / 1000, 1) + " s  (timed: " + groupedNumber(num.rowsTimed) +
                                " rows \u00d7 all keys in " + formatNumber(num.timedMs, 0) + " ms)";
  fact("row-statistics pass on " + num.device + ", measured", timed);
  char buf[512];
  if (step == 0) {
    std::snprintf(buf, sizeof buf,
                  "Every token scores every other: %s tokens make %s cells. The next steps grow n; watch the "
                  "cells, the bytes and the time grow with its square.",
                  groupedNumber(num.n).c_str(), groupedNumber(num.cells).c_str());
  } else {
    const Numbers& prev = numbers(env, step - 1);
    double grow = double(num.n) / prev.n;
    std::snprintf(buf, sizeof buf,
                  "%s times the tokens, %s times the cells and about %s times the time. That is why long context "
                  "is hard, and why attnscope never stores the map: it recomputes what is shown.",
                  formatNumber(grow, 0).c_str(), formatNumber(grow * grow, 0).c_str(),
                  formatNumber(num.wholeMs / std::max(1e-9, prev.wholeMs), 0).c_str());
  }
  slide.caption(buf);
  return slide.finish();
}

// The window's controls (Dear ImGui).

bool QuadraticCostLesson::buildControls(size_t step) {
  // Applied when the slider is let go: a million tokens takes seconds to generate and time.
  if (sliderStep_ != step) {
    sliderStep_ = step;
    sliderN_ = int(ns_[step]);
  }
  ImGui::SliderInt("n", &sliderN_, 16, 1000000, "%d", ImGuiSliderFlags_Logarithmic);
  if (!ImGui::IsItemDeactivatedAfterEdit()) return false;
  ns_[step] = uint32_t(std::clamp(sliderN_, 16, 1000000));
  numbers_[step].reset();
  if (step + 1 < numbers_.size()) numbers_[step + 1].reset();  // its caption compares with this step
  return true;
}

}  // namespace attnscope::lessons
