// Lesson 3, temperature (and Gemma-2's soft cap): the next word's probabilities.
#include "lessons/temperature.h"

#include <imgui.h>

#include "lessons/lesson_common.h"

namespace attnscope::lessons {

TemperatureLesson::TemperatureLesson(std::string sentence, std::vector<std::string> candidates,
                                     std::vector<float> logits, std::vector<double> temperatures,
                                     std::vector<double> softcaps)
    : sentence_(std::move(sentence)), candidates_(std::move(candidates)), logits_(std::move(logits)),
      temperatures_(std::move(temperatures)), softcaps_(std::move(softcaps)) {
  softcaps_.resize(temperatures_.size(), 0.0);
  numbers_.resize(temperatures_.size());
  uncapped_.resize(temperatures_.size());
}

std::string TemperatureLesson::stepTitle(size_t step) const {
  std::string t = "T = " + formatNumber(temperatures_[step], 1);
  return softcaps_[step] > 0 ? t + ", soft cap C = " + formatNumber(softcaps_[step], 1) : t;
}

const SmallAttention& TemperatureLesson::compute(LessonEnv& env, size_t step, double cap,
                                                 std::vector<std::unique_ptr<SmallAttention>>& into) {
  if (!into[step]) {
    // One query whose dot product with key j is logit j: keys are one-hot, scale 1.
    uint32_t n = uint32_t(logits_.size());
    std::vector<float> q(size_t(n) * n), k(size_t(n) * n, 0.0f);
    for (uint32_t i = 0; i < n; ++i) {
      std::copy(logits_.begin(), logits_.end(), q.begin() + size_t(i) * n);
      k[size_t(i) * n + i] = 1.0f;
    }
    AttentionSpec spec = specFor(n, n, MaskKind::None, 1.0, temperatures_[step]);
    if (cap > 0) spec.softcap = cap;
    into[step] = std::make_unique<SmallAttention>(computeSmallAttention(env.ctx, env.kernels, spec, q, k));
  }
  return *into[step];
}

const SmallAttention& TemperatureLesson::numbers(LessonEnv& env, size_t step) {
  return compute(env, step, softcaps_[step], numbers_);
}

const SmallAttention& TemperatureLesson::uncapped(LessonEnv& env, size_t step) {
  return softcaps_[step] > 0 ? compute(env, step, 0.0, uncapped_) : numbers(env, step);
}

Scene TemperatureLesson::draw(LessonEnv& env, size_t step, uint32_t width, uint32_t height) {
  const SmallAttention& num = numbers(env, step);
  uint32_t n = uint32_t(logits_.size());
  double t = temperatures_[step], cap = softcaps_[step];
  Slide slide(env.font, width, height, env.reserveRight);
  slide.header(title(), step, steps(), stepTitle(step));
  if (cap > 0)
    slide.formula({{"p = softmax("}, {"C \u00b7 tanh(logits / C)", true}, {" / T"}, {")"}});
  else
    slide.formula({{"p = softmax("}, {"logits / T", true}, {")"}});
  Rect c = slide.content();
  slide.text(sentence_ + " ___", c.x + c.w / 2, c.y + 20 * slide.scale(), slide.titleSize(), kInk, 1);
  std::vector<std::string> labels;
  for (uint32_t j = 0; j < n; ++j) {
    std::string l = candidates_[j] + "  (" + formatNumber(logits_[j], 1);
    if (cap > 0) l += " \u2192 " + formatNumber(num.logit(0, j) * t, 2);  // the capped logit, before T
    labels.push_back(l + ")");
  }
  std::vector<double> p(num.probs.begin(), num.probs.begin() + n);
  slide.bars({c.x + c.w * 0.1f, c.y + 50 * slide.scale(), c.w * 0.8f, c.h - 60 * slide.scale()},
             cap > 0 ? "the next word's probability (its logit \u2192 capped)" : "the next word's probability (its logit in brackets)",
             labels, p, 3);
  size_t best = std::max_element(p.begin(), p.end()) - p.begin();
  char buf[640];
  if (cap > 0) {
    const SmallAttention& plain = uncapped(env, step);
    std::snprintf(buf, sizeof buf,
                  "Soft cap C = %s: each logit becomes C\u00b7tanh(logit / C), so none goes past \u00b1%s. The "
                  "order stays but large gaps shrink: \u201c%s\u201d takes %s instead of %s. Gemma-2 caps its "
                  "attention logits this way at C = 50 (and its output logits at 30), so they cannot grow without bound.",
                  formatNumber(cap, 1).c_str(), formatNumber(cap, 1).c_str(), candidates_[best].c_str(),
                  formatNumber(p[best], 3).c_str(), formatNumber(plain.p(0, uint32_t(best)), 3).c_str());
  } else {
    std::snprintf(buf, sizeof buf,
                  "T = %s: \u201c%s\u201d takes %s and the entropy is %s of at most %s. %s",
                  formatNumber(t, 1).c_str(), candidates_[best].c_str(), formatNumber(p[best], 3).c_str(),
                  formatNumber(entropyOf(num.probs.data(), n), 2).c_str(), formatNumber(std::log(double(n)), 2).c_str(),
                  t < 0.5 ? "Low temperature sharpens: the logits are multiplied by 1/T, so the largest wins almost everything."
                  : t > 1.5 ? "High temperature flattens: logits divided by a large T all look alike, every word gets a share."
                            : "At T = 1 these are the model's own probabilities.");
  }
  slide.caption(buf);
  return slide.finish();
}

// The window's controls (Dear ImGui).

bool TemperatureLesson::buildControls(size_t step) {
  float t = float(temperatures_[step]), c = float(softcaps_[step]);
  bool changed = ImGui::SliderFloat("T", &t, 0.1f, 5.0f, "%.2f", ImGuiSliderFlags_Logarithmic);
  changed |= ImGui::SliderFloat("soft cap C (0: off)", &c, 0.0f, 20.0f, "%.2f");
  if (!changed) return false;
  temperatures_[step] = std::clamp(double(t), 0.1, 5.0);
  softcaps_[step] = c < 0.05f ? 0.0 : std::clamp(double(c), 0.05, 20.0);
  numbers_[step].reset();
  uncapped_[step].reset();
  return true;
}

}  // namespace attnscope::lessons
