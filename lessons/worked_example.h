#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "lessons/lesson.h"

namespace attnscope::lessons {

// 1. Q, K, V → QKᵀ → ÷√d → mask → softmax → ·V, for each example in the data file.
class WorkedExampleLesson : public Lesson {
 public:
  explicit WorkedExampleLesson(std::vector<SmallHead> examples);
  std::string name() const override { return "worked-example"; }
  std::string title() const override { return "A worked example: softmax(QK\u1d40/\u221ad)\u00b7V"; }
  size_t steps() const override { return examples_.size() * kStepsPerExample; }
  std::string stepTitle(size_t step) const override;
  Scene draw(LessonEnv& env, size_t step, uint32_t width, uint32_t height) override;
  bool buildControls(size_t step) override;  // every number of Q, K and V, editable

  static constexpr size_t kStepsPerExample = 6;
  // What the GPU computed for example e: raw = QKᵀ (scale 1, no mask), scaled = QKᵀ/√d (no
  // mask), final = with the example's mask, softmax and ·V.
  struct Numbers {
    SmallAttention raw, scaled, final;
  };
  const Numbers& numbers(LessonEnv& env, size_t example);
  const std::vector<SmallHead>& examples() const { return examples_; }

 private:
  std::vector<SmallHead> examples_;
  std::vector<std::unique_ptr<Numbers>> numbers_;
};

}  // namespace attnscope::lessons
