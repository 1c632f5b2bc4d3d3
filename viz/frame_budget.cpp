#include "viz/frame_budget.h"

#include <algorithm>
#include <cmath>

namespace attnscope {

FrameBudget::FrameBudget(std::array<double, kBlockShapes> initialFlopsPerMs, FrameBudgetTargets targets,
                         bool initialTrusted)
    : targets_(targets), flopsPerMs_(initialFlopsPerMs) {
  for (double& r : flopsPerMs_) r = std::max(r, 1e3);
  measured_.fill(initialTrusted);
}

double FrameBudget::computeMs(bool moving, bool drawing) const {
  double frame = !drawing ? targets_.undrawnFrameMs : moving ? targets_.movingFrameMs : targets_.stillFrameMs;
  return std::max(targets_.minComputeMs, frame - otherMs(drawing));
}

FrameWork FrameBudget::frame(bool moving, bool drawing) const {
  FrameWork w;
  w.drawn = drawing;
  w.allowedMs = computeMs(moving, drawing);
  return w;
}

double FrameBudget::pieceMs(BlockShape shape, double flops) const {
  return targets_.pieceOverheadMs + flops / flopsPerMs_[int(shape)];
}

double FrameBudget::pieceFlops(BlockShape shape) const {
  return std::max(1e5, computeMs(true) / 4 * flopsPerMs_[int(shape)]);
}

void FrameBudget::observe(double frameMs, double computeMs, const std::array<double, kBlockShapes>& shapeMs,
                          const FrameWork& work) {
  if (!(frameMs > 0)) return;
  // The device's speed, per shape, from the pieces' own timestamps. Averaged in the log: a
  // factor too fast and a factor too slow weigh the same. Frames with little work say little
  // (timer resolution, fixed costs) and are skipped.
  bool timed = computeMs >= 0;
  for (int s = 0; s < kBlockShapes; ++s) {
    if (!timed || shapeMs[s] < 0.5 || work.flops[s] <= 0) continue;
    double sample = work.flops[s] / shapeMs[s];
    flopsPerMs_[s] = std::exp(0.6 * std::log(flopsPerMs_[s]) + 0.4 * std::log(sample));
    measured_[s] = true;
  }
  // The rest of the frame (without timestamps: whatever the prediction leaves, so frames
  // that run long shrink the compute all the same). A stall (a head switch, a window event) counts as at most two
  // frames and a half, so that one does not starve the work for long. Rising costs are followed at
  // once (frames stay short), falling ones slowly (no oscillation).
  double compute = timed ? computeMs : work.predictedMs;
  double other = std::clamp(frameMs - compute, 0.0, 1.5 * targets_.stillFrameMs);
  double& estimate = work.drawn ? otherMs_ : undrawnOtherMs_;
  double a = other > estimate ? 0.5 : 0.25;
  estimate = (1 - a) * estimate + a * other;
}

}  // namespace attnscope
