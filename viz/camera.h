// The viewer's camera, in double precision: which part of the n x n map the plot shows.
// Cell (row i, column j) covers [j, j+1) x [i, i+1) in cell space; x runs along keys
// (columns), y along queries (rows), both from the top-left. Cells stay square on screen.
// Doubles keep a cell exact to ~1e-10 at n = 10^6 and 64 pixels per cell, so zooming about
// the cursor never drifts or jitters.
#pragma once
#include <cstdint>

namespace attnscope {

struct CellRect {
  double x0, y0, x1, y1;  // cell space, x = column, y = row
};

class Camera {
 public:
  static constexpr double kMaxPixelsPerCell = 64.0;

  // The plot's size in pixels and the map's size in cells.
  void setViewport(double widthPx, double heightPx);
  void setMapSize(uint64_t n);
  // The whole map, centred.
  void fit();

  // Zooms by `factor` (> 1 zooms in) keeping the cell point under pixel (px, py) where it is.
  void zoomAbout(double px, double py, double factor);
  // Moves the view by a drag of (dx, dy) pixels: the map follows the pointer.
  void pan(double dxPx, double dyPx);
  // Shows the cell-space rectangle spanned by two pixel corners (box zoom).
  void zoomToBox(double ax, double ay, double bx, double by);
  // Centres a cell point at a given zoom.
  void lookAt(double cellX, double cellY, double cellsPerPixel);

  double cellX(double px) const { return x0_ + px * cellsPerPixel_; }
  double cellY(double py) const { return y0_ + py * cellsPerPixel_; }
  double pixelX(double cellX) const { return (cellX - x0_) / cellsPerPixel_; }
  double pixelY(double cellY) const { return (cellY - y0_) / cellsPerPixel_; }
  double cellsPerPixel() const { return cellsPerPixel_; }
  double minCellsPerPixel() const { return 1.0 / kMaxPixelsPerCell; }
  double maxCellsPerPixel() const;
  CellRect visible() const;
  double widthPx() const { return w_; }
  double heightPx() const { return h_; }
  uint64_t mapSize() const { return n_; }

 private:
  void clamp();
  double w_ = 1, h_ = 1;
  uint64_t n_ = 1;
  double x0_ = 0, y0_ = 0, cellsPerPixel_ = 1;
};

}  // namespace attnscope
