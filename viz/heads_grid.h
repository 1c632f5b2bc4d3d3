// Every head of a layer as a small multiple, each with the main view's camera squeezed into
// its cell (linked views). One head computes per frame, so the frame budget holds whatever
// the number of heads; a click on a cell focuses that head.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "compute/head_data.h"
#include "viz/camera.h"
#include "viz/figure.h"
#include "viz/figure_renderer.h"
#include "viz/tile_view.h"

namespace attnscope {

class HeadsGrid {
 public:
  static constexpr uint32_t kMaxHeads = 16;
  explicit HeadsGrid(uint32_t heads) : count_(std::min(heads, kMaxHeads)) {}

  uint32_t count() const { return count_; }
  // Subplot g, in window pixels inside the plot.
  Rect cell(uint32_t g, const Rect& plot) const;
  // The camera of subplot g: the main view's centre and extent, squeezed into the cell.
  Camera camera(uint32_t g, const Rect& plot, const Camera& main, uint32_t n) const;
  // The subplot under a window pixel, or -1.
  int cellAt(double x, double y, const Rect& plot) const;

  using HeadReader = std::function<HeadData(uint32_t head)>;
  // Reads every head (once per layer) from update(), one per frame: a head at 100k tokens
  // takes tens (a file) to hundreds (synthetic, on a CPU) of ms, so the grid fills in while
  // the window stays live, and the cells still to come say so. Nothing happens if the heads
  // are read or being read already. `spec` is that of the heads.
  void startLoading(HeadReader readHead, Context& ctx, Kernels& kernels, const AttentionSpec& spec,
                    uint64_t cacheBytes);
  bool loading() const { return bool(reader_); }
  uint32_t headsLoaded() const { return uint32_t(slots_.size()); }
  void clear() {
    slots_.clear();
    reader_ = nullptr;
  }
  void setSpec(const AttentionSpec& spec);
  // Reads the next head while any is left; otherwise one head's turn of compute. True while
  // any head has work left.
  bool update(Recording& rec, const Rect& plot, const Camera& main, uint32_t n, const FrameBudget& budget,
              FrameWork& work);
  // What to draw, each clipped to its cell.
  void layers(std::vector<HeatmapLayer>& out, const Rect& plot, const Camera& main, uint32_t n);
  bool settled(const Rect& plot, const Camera& main, uint32_t n);
  const Image* sweepImage(uint32_t head) const;
  // "head g" on each cell.
  void labels(OverlayBuilder& out, const Rect& plot) const;

 private:
  struct Slot {
    std::unique_ptr<HeadData> head;
    std::unique_ptr<TileView> tiles;
  };
  void loadNext(const Rect& plot);
  uint32_t count_;
  std::vector<Slot> slots_;
  HeadReader reader_;  // while heads are left to read
  Context* ctx_ = nullptr;
  Kernels* kernels_ = nullptr;
  AttentionSpec spec_;
  uint64_t cacheBytes_ = 0;
  uint32_t turn_ = 0;
};

}  // namespace attnscope
