#include "viz/pointer_input.h"

#include <GLFW/glfw3.h>

#include <algorithm>
#include <cmath>

#include "viz/heads_grid.h"

namespace attnscope {

int PointerInput::handle(const InputEvent& e, Camera& camera, const Rect& plot, const HeadsGrid* grid, uint32_t n) {
  double px = e.x - plot.x, py = e.y - plot.y;
  if (grid) {
    int g = grid->cellAt(e.x, e.y, plot);
    if (g >= 0) {  // the same cell in the linked main view
      Rect r = grid->cell(uint32_t(g), plot);
      Camera sub = grid->camera(uint32_t(g), plot, camera, n);
      px = camera.pixelX(sub.cellX(e.x - r.x));
      py = camera.pixelY(sub.cellY(e.y - r.y));
    }
    if (e.type == InputEvent::ButtonDown && e.button == 0) clickCandidate_ = true;
    if (e.type == InputEvent::Move && dragging_) clickCandidate_ = false;
    if (e.type == InputEvent::ButtonUp && e.button == 0 && clickCandidate_ && g >= 0) {
      clickCandidate_ = dragging_ = false;
      return g;
    }
  }
  switch (e.type) {
    case InputEvent::Scroll: camera.zoomAbout(px, py, std::pow(1.25, e.scroll)); break;
    case InputEvent::ButtonDown:
      if (e.button == 0) {
        dragging_ = true;
        boxing_ = e.mods & GLFW_MOD_SHIFT;
        dragX_ = boxX_ = e.x;
        dragY_ = boxY_ = e.y;
      }
      break;
    case InputEvent::ButtonUp:
      if (e.button == 0 && dragging_ && boxing_) camera.zoomToBox(boxX_ - plot.x, boxY_ - plot.y, e.x - plot.x, e.y - plot.y);
      dragging_ = boxing_ = false;
      break;
    case InputEvent::Move:
      if (dragging_ && !boxing_) {
        double scale = 1;
        if (grid) {  // a drag in a small multiple moves as far
          Rect r = grid->cell(0, plot);
          scale = std::max(plot.w / r.w, plot.h / r.h);
        }
        camera.pan((e.x - dragX_) * scale, (e.y - dragY_) * scale);
      }
      dragX_ = x_ = e.x;
      dragY_ = y_ = e.y;
      break;
    case InputEvent::Key: break;
  }
  return -1;
}

}  // namespace attnscope
