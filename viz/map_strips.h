// The bars that frame the viewer's map once the whole map is swept: above it, the attention
// each key receives from all queries (log scale: sinks stand out); at its right, each row's
// entropy (0 to log n). Also the expected p by distance that observed / expected divides by.
// The numbers are compute/map_summaries; this draws them and holds the expectation image.
#pragma once
#include <cstdint>
#include <vector>

#include "engine/buffer.h"
#include "engine/image.h"
#include "viz/camera.h"
#include "viz/figure.h"

namespace attnscope {

class MapStrips {
 public:
  bool ready() const { return ready_; }
  void reset() { ready_ = false; }
  // From the finished sweep (its texels, read back, each of 2^level cells) and every row's
  // statistics.
  void compute(Context& ctx, const Image& sweep, const std::vector<float>& sweepTexels, const Buffer& rowStats,
               uint32_t level, uint32_t n);
  void draw(OverlayBuilder& out, const FigureLayout& l, const Camera& camera, const Rect& plot, uint32_t n) const;
  // For observed / expected: the image of expected p per diagonal band, its block and centre.
  const Image& expected() const { return expected_; }
  uint32_t expectedBlock() const { return expectedBlock_; }
  uint32_t expectedCenter() const { return expectedCenter_; }

 private:
  bool ready_ = false;
  std::vector<double> entropyPrefix_, receivedPerKey_;
  uint64_t receivedBlock_ = 1;
  Image expected_;
  uint32_t expectedBlock_ = 1, expectedCenter_ = 0;
};

}  // namespace attnscope
