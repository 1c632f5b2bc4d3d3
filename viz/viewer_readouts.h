// What the viewer reads back from the GPU around the frame fence: the texel under the
// pointer with its row's softmax statistics (the readout), and the window's image (a
// screenshot). Both are recorded into a frame and collected after that frame's fence, so the
// frame never waits for them.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "engine/buffer.h"
#include "engine/commands.h"
#include "viz/tile_view.h"

namespace attnscope {

class Swapchain;

class HoverReadout {
 public:
  explicit HoverReadout(Context& ctx);
  // Copies the texel of (cellX, cellY) from the finest tile drawn there, and the row's
  // statistics once the sweep has left them; no cell (outside the map) clears the readout.
  void record(Recording& rec, const std::vector<DrawTile>& draws, const TileView& tiles, double cellX, double cellY,
              uint32_t n);
  void clear() { cell_ = false; }
  // After the fence of the frame that recorded: the copied values become readable.
  void collect();
  // "i 5, j 3: p 0.25, logit 1.2 [cat -> the]; row 5: max logit ..." (empty when nothing).
  std::string text(const std::vector<std::string>& tokens) const;

 private:
  Buffer readback_;
  bool pending_ = false, valid_ = false, cell_ = false, statsValid_ = false;
  float texel_[4] = {0, 0, 0, 0}, stats_[4] = {0, 0, 0, 0};
  uint64_t i_ = 0, j_ = 0;
  double cellsPerTexel_ = 1;
};

class ScreenshotReadout {
 public:
  explicit ScreenshotReadout(Context& ctx) : ctx_(ctx) {}
  void request(const std::string& path) { path_ = path, requested_ = true; }
  // The S key: attnscope-screenshot-N.png in the working folder.
  void requestNumbered();
  bool requested() const { return requested_; }
  // Copies swapchain image `index` (w x h), left ready to present, into host memory.
  void record(VkCommandBuffer cmd, const Swapchain& swapchain, uint32_t index, uint32_t w, uint32_t h);
  // After the fence: writes the PNG (printing its name) if one was recorded.
  void collect(VkFormat format);
  // True once after a PNG was written.
  bool takeDone() {
    bool d = done_;
    done_ = false;
    return d;
  }

 private:
  Context& ctx_;
  Buffer buffer_;
  uint32_t w_ = 0, h_ = 0;
  std::string path_;
  bool requested_ = false, pending_ = false, done_ = false;
  int count_ = 0;
};

// The whole-map sweep's image in host memory, for the strips and the colour range: copied
// in a frame and read after that frame's fence. A blocking readback of a 100k map's 782 x 782
// texels had held the frame that found the sweep done for 11 ms of its ~40.
class SweepReadback {
 public:
  explicit SweepReadback(Context& ctx) : ctx_(ctx) {}
  // Asks for `image` (RGBA32F, GENERAL, its writes complete) as of `generation` (the
  // views' change count): the next recorded frame copies it.
  void request(const Image& image, uint64_t generation);
  // Records the requested copy into a frame's command buffer.
  void record(VkCommandBuffer cmd);
  // After the fence of the frame that recorded: the texels become readable.
  void collect();
  // The texels of `generation`'s sweep, once collected; other generations are dropped.
  bool ready(uint64_t generation) const { return ready_ && generation_ == generation; }
  std::vector<float> take();
  // The views changed (the image may be gone; a change waits for the device first): forget
  // what was asked for or copied.
  void cancel() { requested_ = pending_ = ready_ = false, image_ = nullptr; }

 private:
  Context& ctx_;
  Buffer buffer_;
  const Image* image_ = nullptr;
  uint32_t width_ = 0, height_ = 0;
  uint64_t generation_ = 0;
  bool requested_ = false, pending_ = false, ready_ = false;
};

}  // namespace attnscope
