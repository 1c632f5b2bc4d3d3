#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "lessons/lesson.h"

namespace attnscope::lessons {

// 4. The causal mask: the upper triangle goes to −∞ before the softmax and to 0 after.
class CausalMaskLesson : public Lesson {
 public:
  explicit CausalMaskLesson(SmallHead head);
  std::string name() const override { return "causal-mask"; }
  std::string title() const override { return "The causal mask"; }
  size_t steps() const override { return 3; }
  std::string stepTitle(size_t step) const override;
  Scene draw(LessonEnv& env, size_t step, uint32_t width, uint32_t height) override;

  struct Numbers {
    SmallAttention open, causal;  // no mask, causal mask
  };
  const Numbers& numbers(LessonEnv& env);
  const SmallHead& head() const { return head_; }

 private:
  SmallHead head_;
  std::unique_ptr<Numbers> numbers_;
};

}  // namespace attnscope::lessons
