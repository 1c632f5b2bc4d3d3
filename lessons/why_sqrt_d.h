#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "lessons/lesson.h"

namespace attnscope::lessons {

// 2. Why √d: one query and `keys` random keys of dimension d, softmax with and without the scale.
class WhySqrtDLesson : public Lesson {
 public:
  WhySqrtDLesson(std::vector<uint32_t> dims, uint32_t keys, uint64_t seed);
  std::string name() const override { return "why-sqrt-d"; }
  std::string title() const override { return "Why divide by \u221ad"; }
  size_t steps() const override { return dims_.size(); }
  std::string stepTitle(size_t step) const override;
  Scene draw(LessonEnv& env, size_t step, uint32_t width, uint32_t height) override;
  bool buildControls(size_t step) override;  // d from 1 to 1024

  struct Numbers {
    uint32_t d;
    std::vector<float> q, k;        // [keys][d] each (query row 0 is the one shown)
    SmallAttention unscaled, scaled;
  };
  const Numbers& numbers(LessonEnv& env, size_t step);
  uint32_t keys() const { return keys_; }

 private:
  std::vector<uint32_t> dims_;
  uint32_t keys_;
  uint64_t seed_;
  std::vector<std::unique_ptr<Numbers>> numbers_;
};

}  // namespace attnscope::lessons
