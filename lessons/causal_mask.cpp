// Lesson 4, the causal mask.
#include "lessons/causal_mask.h"

#include "lessons/lesson_common.h"

namespace attnscope::lessons {

CausalMaskLesson::CausalMaskLesson(SmallHead head) : head_(std::move(head)) {}

std::string CausalMaskLesson::stepTitle(size_t step) const {
  static const char* names[3] = {"the scores, every token against every token",
                                 "+ M: the upper triangle goes to \u2212\u221e before the softmax",
                                 "softmax: the upper triangle becomes exactly 0"};
  return names[step];
}

const CausalMaskLesson::Numbers& CausalMaskLesson::numbers(LessonEnv& env) {
  if (!numbers_) {
    auto n = std::make_unique<Numbers>();
    n->open = computeSmallAttention(env.ctx, env.kernels, specFor(head_.n, head_.d, MaskKind::None, std::nullopt),
                                    head_.q, head_.k);
    n->causal = computeSmallAttention(env.ctx, env.kernels, specFor(head_.n, head_.d, MaskKind::Causal, std::nullopt),
                                      head_.q, head_.k);
    numbers_ = std::move(n);
  }
  return *numbers_;
}

Scene CausalMaskLesson::draw(LessonEnv& env, size_t step, uint32_t width, uint32_t height) {
  const Numbers& num = numbers(env);
  const SmallHead& h = head_;
  Slide slide(env.font, width, height, env.reserveRight);
  slide.header(title(), step, steps(), stepTitle(step));
  slide.formula(attentionFormula(step == 0 ? 1 : step == 1 ? 3 : 4));
  MatrixView open{"scores S = QK\u1d40/\u221ad", h.tokens, h.tokens, h.n, h.n, toDouble(num.open.logits), 2,
                  CellColor::Signed};
  MatrixView masked{"S + M", h.tokens, h.tokens, h.n, h.n, toDouble(num.causal.logits), 2, CellColor::Signed};
  MatrixView pOpen{"softmax(S): no mask", h.tokens, h.tokens, h.n, h.n, toDouble(num.open.probs), 2,
                   CellColor::Probability};
  MatrixView pCausal{"softmax(S + M): causal", h.tokens, h.tokens, h.n, h.n, toDouble(num.causal.probs), 2,
                     CellColor::Probability};
  std::string text;
  if (step == 0) {
    open.highlight = true;
    row(slide, {open}, {});
    text = "Without a mask \u201c" + h.tokens[0] + "\u201d would read \u201c" + h.tokens[h.n - 1] +
           "\u201d, which comes after it. A language model predicting the next word must not see it.";
  } else if (step == 1) {
    masked.highlight = true;
    row(slide, {open, masked}, {"\u2192"});
    text = "Before the softmax every score with j > i is set to \u2212\u221e: one matrix M turns a parallel batch into an "
           "honest left-to-right model.";
  } else {
    pCausal.highlight = true;
    row(slide, {pOpen, pCausal}, {"vs"});
    text = "exp(\u2212\u221e) = 0: the future gets exactly 0 and each row still sums to 1. \u201c" + h.tokens[0] +
           "\u201d can only attend to itself: " + formatNumber(num.causal.p(0, 0), 2) + ".";
  }
  slide.caption(text);
  return slide.finish();
}

}  // namespace attnscope::lessons
