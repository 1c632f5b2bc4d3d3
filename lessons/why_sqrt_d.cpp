// Lesson 2, why sqrt(d): softmax with and without the scale as d grows.
#include "lessons/why_sqrt_d.h"

#include <imgui.h>

#include "lessons/lesson_common.h"

namespace attnscope::lessons {

WhySqrtDLesson::WhySqrtDLesson(std::vector<uint32_t> dims, uint32_t keys, uint64_t seed)
    : dims_(std::move(dims)), keys_(keys), seed_(seed) {
  numbers_.resize(dims_.size());
}

std::string WhySqrtDLesson::stepTitle(size_t step) const {
  return "d = " + std::to_string(dims_[step]) + ": one query against " + std::to_string(keys_) + " random keys";
}

const WhySqrtDLesson::Numbers& WhySqrtDLesson::numbers(LessonEnv& env, size_t step) {
  if (!numbers_[step]) {
    auto n = std::make_unique<Numbers>();
    n->d = dims_[step];
    n->q = normalMatrix(keys_, n->d, seed_ * 1000 + n->d);
    n->k = normalMatrix(keys_, n->d, seed_ * 1000 + n->d + 500);
    n->unscaled = computeSmallAttention(env.ctx, env.kernels, specFor(keys_, n->d, MaskKind::None, 1.0), n->q, n->k);
    n->scaled = computeSmallAttention(env.ctx, env.kernels, specFor(keys_, n->d, MaskKind::None, std::nullopt), n->q, n->k);
    numbers_[step] = std::move(n);
  }
  return *numbers_[step];
}

Scene WhySqrtDLesson::draw(LessonEnv& env, size_t step, uint32_t width, uint32_t height) {
  const Numbers& num = numbers(env, step);
  Slide slide(env.font, width, height, env.reserveRight);
  slide.header(title(), step, steps(), stepTitle(step));
  slide.formula({{"weights = softmax("}, {"q \u00b7 k"}, {" / \u221ad", true}, {")"}});
  Rect c = slide.content();
  auto labels = indexLabels("k", keys_);
  std::vector<double> pu(num.unscaled.probs.begin(), num.unscaled.probs.begin() + keys_),
      ps(num.scaled.probs.begin(), num.scaled.probs.begin() + keys_);
  float half = c.w / 2;
  slide.bars({c.x, c.y, half - 20 * slide.scale(), c.h * 0.78f}, "without the scale: softmax(q\u00b7k)", labels, pu, 3);
  slide.bars({c.x + half + 20 * slide.scale(), c.y, half - 20 * slide.scale(), c.h * 0.78f},
             "with it: softmax(q\u00b7k / \u221a" + std::to_string(num.d) + ")", labels, ps, 3);
  double hu = entropyOf(num.unscaled.probs.data(), keys_), hs = entropyOf(num.scaled.probs.data(), keys_);
  double mu = *std::max_element(pu.begin(), pu.end()), ms = *std::max_element(ps.begin(), ps.end());
  float y = c.y + c.h * 0.86f;
  slide.text("largest weight " + formatNumber(mu, 3) + "   entropy " + formatNumber(hu, 3), c.x + half / 2, y,
             slide.bodySize(), kInk, 1);
  slide.text("largest weight " + formatNumber(ms, 3) + "   entropy " + formatNumber(hs, 3), c.x + half * 1.5f, y,
             slide.bodySize(), kInk, 1);
  double sd = 0;
  for (uint32_t j = 0; j < keys_; ++j) sd += double(num.unscaled.logit(0, j)) * num.unscaled.logit(0, j);
  sd = std::sqrt(sd / keys_);
  char buf[512];
  std::snprintf(buf, sizeof buf,
                "The raw scores q\u00b7k here spread over about \u00b1%s (random vectors: standard deviation \u2248 \u221ad = "
                "%s). %s Entropy runs from 0 (one-hot) to log %u = %s (uniform).",
                formatNumber(sd, 1).c_str(), formatNumber(std::sqrt(double(num.d)), 1).c_str(),
                mu > 0.95 ? "Unscaled, softmax saturates into a one-hot choice and its gradients vanish; scaled, it stays soft."
                          : "At this d both are still soft; watch the left side as d grows.",
                keys_, formatNumber(std::log(double(keys_)), 2).c_str());
  slide.caption(buf);
  return slide.finish();
}

// The window's controls (Dear ImGui).

bool WhySqrtDLesson::buildControls(size_t step) {
  int d = int(dims_[step]);
  if (!ImGui::SliderInt("d", &d, 1, int(kMaxHeadDim), "%d", ImGuiSliderFlags_Logarithmic)) return false;
  dims_[step] = uint32_t(std::clamp(d, 1, int(kMaxHeadDim)));
  numbers_[step].reset();
  return true;
}

}  // namespace attnscope::lessons
