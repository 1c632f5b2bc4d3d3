#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "lessons/lesson.h"

namespace attnscope::lessons {

// 6. Positional encoding: the sinusoidal table of positions x dimensions (a few positions
// exactly, then 100 000 x 512 with each texel the mean of the cells it covers), PE·PEᵀ
// showing relative position, and rotary's q·k that depends on i - j alone.
class PositionalEncodingLesson : public Lesson {
 public:
  struct Sizes {
    uint32_t positions = 100000, dModel = 512;        // the whole table
    uint32_t zoomPositions = 64, zoomDims = 128;       // the exact close-up
    uint32_t similarityPositions = 256, similarityDModel = 128;
    uint32_t ropeDim = 64;
    double ropeBase = 10000;
  };
  explicit PositionalEncodingLesson(Sizes sizes);
  std::string name() const override { return "positional-encoding"; }
  std::string title() const override { return "Where is each token? Positional encodings"; }
  size_t steps() const override { return 4; }
  std::string stepTitle(size_t step) const override;
  Scene draw(LessonEnv& env, size_t step, uint32_t width, uint32_t height) override;
  bool buildControls(size_t step) override;  // how many positions and dimensions the table shows

  struct Numbers {
    std::vector<float> zoom;        // [zoomPositions][zoomDims], PE from the GPU
    uint32_t wholeRows = 0;         // texel rows of the whole table
    std::vector<float> wholeMeans;  // [wholeRows][dModel]: mean PE over each row's positions
    SmallAttention similarity;      // logits = PE_i · PE_j (scale 1, no mask)
    SmallAttention rotary;          // logits = R(i)u · R(j)u (scale 1, no mask)
    std::vector<float> ropeQ;       // the rotated rows R(i)u, [similarityPositions][ropeDim]
  };
  const Numbers& numbers(LessonEnv& env);
  const Sizes& sizes() const { return sizes_; }

 private:
  Sizes sizes_;
  std::unique_ptr<Numbers> numbers_;
  std::vector<std::shared_ptr<class Image>> images_;  // zoom, whole, similarity, rotary
};

}  // namespace attnscope::lessons
