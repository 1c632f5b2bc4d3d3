// What the viewer shows of its input: one head of one layer through its tiles, or every head
// of the layer as linked small multiples. Reading another head or layer, and new attention
// parameters, each recompute what they must; a layer may bring its own attention (a capture's
// metadata: Gemma-2 alternates windows), while the temperature stays the viewer's.
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "viz/heads_grid.h"
#include "viz/tile_view.h"
#include "viz/viewer.h"

namespace attnscope {

class HeadViews {
 public:
  HeadViews(Context& ctx, Kernels& kernels, const HeadLoader& loader, const AttentionSpec& spec, uint32_t heads,
            std::vector<uint32_t> layers, uint64_t cacheBytes);
  ~HeadViews();

  // Reads head `head` of layer `layer` with fresh tiles now (fitCellsPerPixel: the whole-map
  // zoom). Waits for the device.
  void show(uint32_t layer, uint32_t head, double fitCellsPerPixel);
  // A user's switch is only asked for here and read by applyPending() at the start of a later
  // frame: reading a head takes tens (a file) to hundreds (synthetic, 100k tokens on a CPU)
  // of ms, and the frame in between says which head is coming. Several switches before then
  // add up; each is relative to the head asked for last.
  void switchHead(int delta, double fitCellsPerPixel);
  void switchLayer(int delta, double fitCellsPerPixel);
  // Asks for head `head` of layer `layer` (a layer the input has), whatever is shown now.
  void select(uint32_t layer, uint32_t head, double fitCellsPerPixel);
  bool pending() const { return pending_.has_value(); }
  // Reads the head asked for, if any (call with no frame recording). True if it did.
  bool applyPending();
  void setGrid(bool on);
  void setSpec(const AttentionSpec& spec);

  bool grid() const { return grid_; }
  const AttentionSpec& spec() const { return spec_; }
  uint32_t head() const { return head_; }
  uint32_t heads() const { return heads_; }
  uint32_t layer() const { return layer_; }
  // The head and layer asked for: those shown, or those a pending switch will show.
  uint32_t targetHead() const { return pending_ ? pending_->head : head_; }
  uint32_t targetLayer() const { return pending_ ? pending_->layer : layer_; }
  const std::vector<uint32_t>& layers() const { return layers_; }
  TileView& tiles() { return *tiles_; }
  const TileView& tiles() const { return *tiles_; }
  HeadsGrid& headsGrid() { return headsGrid_; }
  const HeadsGrid& headsGrid() const { return headsGrid_; }
  // Counts what changed the picture (head, layer, parameters, grid): the colour range and
  // the strips follow it.
  uint64_t changes() const { return changes_; }

  // This frame's compute: the main view, or one grid head's turn. True while work remains.
  bool update(Recording& rec, const Camera& camera, const Rect& plot, const FrameBudget& budget, FrameWork& work);
  bool settled(const Camera& camera, const Rect& plot);
  // The finished whole-map sweep the colour range comes from (the focused head in the grid).
  const Image* rangeSweep() const;

 private:
  HeadData load(uint32_t layer, uint32_t head);
  Context& ctx_;
  Kernels& kernels_;
  HeadLoader loader_;
  AttentionSpec spec_;
  uint32_t heads_;
  std::vector<uint32_t> layers_;
  uint64_t cacheBytes_;
  std::unique_ptr<HeadData> data_;
  std::unique_ptr<TileView> tiles_;
  HeadsGrid headsGrid_;
  bool grid_ = false;
  uint32_t layer_ = 0, head_ = 0;
  struct Pending {
    uint32_t layer, head;
    double fitCellsPerPixel;
  };
  std::optional<Pending> pending_;
  uint64_t changes_ = 0;
};

}  // namespace attnscope
