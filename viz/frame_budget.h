// How much compute a viewer frame may record, from a time budget rather than a FLOP constant:
// a device five times slower gets a fifth of the work per frame, not frames five times longer.
//
// Two kinds of running estimate, both from frames already finished:
//  - the device's speed, in FLOPs per millisecond of GPU time, per block shape (a 1:1 tile
//    with one key per texel runs at a tenth of the rate of the whole-map sweep on lavapipe),
//    from GPU timestamps around each piece of work;
//  - what the rest of a frame costs: its wall time minus its compute (drawing, recording,
//    presenting).
// A frame's compute is what fits between the two and the frame-time target, smaller while
// the camera moves. The estimates follow the device within a few frames when its speed or
// its load changes. A frame that only computes (the viewer draws a resting picture a few
// times a second while the sweep runs) has its own, much smaller, estimate of the rest.
#pragma once
#include <array>

#include "compute/kernels.h"

namespace attnscope {

struct FrameBudgetTargets {
  double stillFrameMs = 30;   // a whole frame while the camera rests (the sweep and tiles run)
  double movingFrameMs = 24;  // while it moves: interaction first
  // A frame that only computes: input that arrives meanwhile waits for it, and a piece can
  // run up to twice its prediction (VM noise, the mask's uneven rows), so well under a frame.
  double undrawnFrameMs = 18;
  double minComputeMs = 2;    // work always progresses, however slow drawing is
  double pieceOverheadMs = 0.05;  // a piece's fixed cost (dispatches, barriers), work or not
};

// What one frame may spend on compute and what it has recorded so far.
struct FrameWork {
  bool drawn = true;  // false: a frame that only computes, nothing is drawn or presented
  double allowedMs = 0;
  double predictedMs = 0;                        // recorded so far, as the estimates predict it
  std::array<double, kBlockShapes> flops{};      // recorded so far, per block shape
  // Whether a piece predicted to take `ms` still fits, with a tenth of slack (pieces are a
  // quarter of a moving frame's compute, so without it a frame could fall a piece short; the
  // first piece always fits: work must progress).
  bool fits(double ms) const { return predictedMs == 0 || predictedMs + ms <= allowedMs * 1.1; }
};

class FrameBudget {
 public:
  // initialFlopsPerMs: per BlockShape, until frames have been measured (from the tuner's
  // timings where it ran, else a guess by device type).
  // initialTrusted: the initial speeds are exact (a budget counted in FLOPs); otherwise a
  // shape's first frame records only one piece of it (see measured()).
  explicit FrameBudget(std::array<double, kBlockShapes> initialFlopsPerMs, FrameBudgetTargets targets = {},
                       bool initialTrusted = false);

  // The compute a frame may record; `drawing` false: a frame that only computes.
  FrameWork frame(bool moving, bool drawing = true) const;
  // The predicted GPU time of `flops` of work in `shape`, with the piece's fixed cost.
  double pieceMs(BlockShape shape, double flops) const;
  // The work a piece should hold: a quarter of a moving frame's compute, so that frames can
  // stop close to their budget.
  double pieceFlops(BlockShape shape) const;

  // A finished frame: its wall time, the GPU time of its whole compute and per shape (< 0
  // where the device has no timestamps), and the work it recorded.
  void observe(double frameMs, double computeMs, const std::array<double, kBlockShapes>& shapeMs,
               const FrameWork& work);

  double flopsPerMs(BlockShape shape) const { return flopsPerMs_[int(shape)]; }
  // Whether a frame has timed this shape yet. Until then a frame records one piece of it:
  // the tuner's small problems are not the sweep's first strips (each with a fixed cost in
  // the merge and reduce passes over few keys), and the viewer's first frame, filled to the
  // budget from the tuner's speed, took 84-93 ms against a 12 ms allowance.
  bool measured(BlockShape shape) const { return measured_[int(shape)]; }
  double otherMs(bool drawing = true) const { return drawing ? otherMs_ : undrawnOtherMs_; }
  double computeMs(bool moving, bool drawing = true) const;
  const FrameBudgetTargets& targets() const { return targets_; }

 private:
  FrameBudgetTargets targets_;
  std::array<double, kBlockShapes> flopsPerMs_;
  std::array<bool, kBlockShapes> measured_{};
  double otherMs_ = 12;  // drawing and the rest, until measured
  double undrawnOtherMs_ = 1;  // a frame that only computes: recording and submitting
};

}  // namespace attnscope
