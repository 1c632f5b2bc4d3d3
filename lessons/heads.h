#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "lessons/lesson.h"

namespace attnscope::lessons {

// 5. Heads: one sentence, several heads with the patterns the lessons name (previous token,
// first token, broad), and one token's row in each.
class HeadsLesson : public Lesson {
 public:
  HeadsLesson(std::vector<std::string> tokens, std::vector<std::string> presets, std::string focus, uint32_t d,
              uint32_t seed);
  std::string name() const override { return "heads"; }
  std::string title() const override { return "Heads: several attention patterns at once"; }
  size_t steps() const override { return presets_.size() + 1; }
  std::string stepTitle(size_t step) const override;
  Scene draw(LessonEnv& env, size_t step, uint32_t width, uint32_t height) override;
  bool buildControls(size_t step) override;  // which token's row to compare
  bool click(size_t& step, float x, float y) override;  // a token's label: its row in every head

  struct Numbers {
    std::vector<float> q, k;  // [n][d] as the synthetic head generator made them on the GPU
    SmallAttention attention;  // causal
  };
  const Numbers& numbers(LessonEnv& env, size_t head);
  const std::vector<std::string>& tokens() const { return tokens_; }
  uint32_t dim() const { return d_; }
  size_t focus() const { return focus_; }
  const std::vector<Rect>& rowRects() const { return labelRects_; }  // of the last matrix drawn

 private:
  std::vector<std::string> tokens_, presets_;
  size_t focus_;
  std::vector<Rect> labelRects_;  // row labels of the last matrix drawn, for clicks
  uint32_t d_, seed_;
  std::vector<std::unique_ptr<Numbers>> numbers_;
};

}  // namespace attnscope::lessons
