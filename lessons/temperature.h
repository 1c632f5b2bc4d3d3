#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "lessons/lesson.h"

namespace attnscope::lessons {

// 3. Temperature: the next word's probabilities as T goes from 0.1 to 5.
class TemperatureLesson : public Lesson {
 public:
  // softcaps: per step, Gemma-2's soft cap C (logits become C tanh(logit / C)), 0 for none.
  TemperatureLesson(std::string sentence, std::vector<std::string> candidates, std::vector<float> logits,
                    std::vector<double> temperatures, std::vector<double> softcaps);
  std::string name() const override { return "temperature"; }
  std::string title() const override { return "Temperature"; }
  size_t steps() const override { return temperatures_.size(); }
  std::string stepTitle(size_t step) const override;
  Scene draw(LessonEnv& env, size_t step, uint32_t width, uint32_t height) override;
  bool buildControls(size_t step) override;  // T from 0.1 to 5, the soft cap from 0 (off) to 20

  // p_j = softmax(logits / T), or with a cap softmax(C tanh(logits / C) / T), as the GPU
  // computed it (row 0 of a one-hot-key head); uncapped(): the same step without the cap.
  const SmallAttention& numbers(LessonEnv& env, size_t step);
  const SmallAttention& uncapped(LessonEnv& env, size_t step);
  const std::vector<float>& logits() const { return logits_; }
  double temperature(size_t step) const { return temperatures_[step]; }
  double softcap(size_t step) const { return softcaps_[step]; }

 private:
  std::string sentence_;
  std::vector<std::string> candidates_;
  std::vector<float> logits_;
  std::vector<double> temperatures_;
  std::vector<double> softcaps_;
  std::vector<std::unique_ptr<SmallAttention>> numbers_, uncapped_;
  const SmallAttention& compute(LessonEnv& env, size_t step, double cap, std::vector<std::unique_ptr<SmallAttention>>& into);
};

}  // namespace attnscope::lessons
