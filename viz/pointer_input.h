// The pointer over the viewer's map: wheel zooms about the cursor, drag pans, shift-drag zooms
// to a box, and over the heads grid a click (press and release without a drag) picks a head.
// Keys go through view_actions instead.
#pragma once
#include <cstdint>

#include "viz/camera.h"
#include "viz/figure.h"
#include "viz/window.h"

namespace attnscope {

class HeadsGrid;

class PointerInput {
 public:
  // Moves `camera` (the main view of the plot) for a pointer event; with `grid` shown, events
  // over a cell act on the linked main view. Returns the head clicked in the grid, or -1.
  int handle(const InputEvent& e, Camera& camera, const Rect& plot, const HeadsGrid* grid, uint32_t n);
  // The panel took the pointer: a drag in progress ends.
  void release() { dragging_ = false; }
  double x() const { return x_; }
  double y() const { return y_; }
  void hoverAt(double x, double y) { x_ = x, y_ = y; }

 private:
  bool dragging_ = false, boxing_ = false, clickCandidate_ = false;
  double dragX_ = 0, dragY_ = 0, boxX_ = 0, boxY_ = 0, x_ = -1, y_ = -1;
};

}  // namespace attnscope
