#include "viz/camera.h"

#include <algorithm>
#include <cmath>

namespace attnscope {

void Camera::setViewport(double widthPx, double heightPx) {
  // Keep the centre where it was when the window is resized.
  double cx = cellX(w_ / 2), cy = cellY(h_ / 2);
  w_ = std::max(1.0, widthPx);
  h_ = std::max(1.0, heightPx);
  x0_ = cx - w_ / 2 * cellsPerPixel_;
  y0_ = cy - h_ / 2 * cellsPerPixel_;
  clamp();
}

void Camera::setMapSize(uint64_t n) {
  n_ = std::max<uint64_t>(n, 1);
  fit();
}

double Camera::maxCellsPerPixel() const {
  // Zoomed out as far as the whole map fitting, with a little margin.
  return double(n_) / std::min(w_, h_) * 1.05;
}

void Camera::fit() {
  cellsPerPixel_ = double(n_) / std::min(w_, h_);
  x0_ = n_ / 2.0 - w_ / 2 * cellsPerPixel_;
  y0_ = n_ / 2.0 - h_ / 2 * cellsPerPixel_;
}

void Camera::zoomAbout(double px, double py, double factor) {
  if (!(factor > 0)) return;
  double cx = cellX(px), cy = cellY(py);
  double target = std::clamp(cellsPerPixel_ / factor, minCellsPerPixel(), std::max(minCellsPerPixel(), maxCellsPerPixel()));
  cellsPerPixel_ = target;
  x0_ = cx - px * cellsPerPixel_;
  y0_ = cy - py * cellsPerPixel_;
  clamp();
}

void Camera::pan(double dxPx, double dyPx) {
  x0_ -= dxPx * cellsPerPixel_;
  y0_ -= dyPx * cellsPerPixel_;
  clamp();
}

void Camera::zoomToBox(double ax, double ay, double bx, double by) {
  double w = std::abs(bx - ax), h = std::abs(by - ay);
  if (w < 2 || h < 2) return;  // a click, not a box
  double cx = cellX((ax + bx) / 2), cy = cellY((ay + by) / 2);
  lookAt(cx, cy, std::max(w / w_, h / h_) * cellsPerPixel_);
}

void Camera::lookAt(double cellXc, double cellYc, double cellsPerPixel) {
  cellsPerPixel_ = std::clamp(cellsPerPixel, minCellsPerPixel(), std::max(minCellsPerPixel(), maxCellsPerPixel()));
  x0_ = cellXc - w_ / 2 * cellsPerPixel_;
  y0_ = cellYc - h_ / 2 * cellsPerPixel_;
  clamp();
}

CellRect Camera::visible() const {
  return {x0_, y0_, x0_ + w_ * cellsPerPixel_, y0_ + h_ * cellsPerPixel_};
}

void Camera::clamp() {
  // The view's centre stays on the map, so some of the map is always in view.
  double cx = cellX(w_ / 2), cy = cellY(h_ / 2);
  double n = double(n_);
  double ccx = std::clamp(cx, 0.0, n), ccy = std::clamp(cy, 0.0, n);
  x0_ += ccx - cx;
  y0_ += ccy - cy;
}

}  // namespace attnscope
