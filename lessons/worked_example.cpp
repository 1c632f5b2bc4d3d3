// Lesson 1, a worked example: Q, K, V -> QK^T -> / sqrt(d) -> mask -> softmax -> . V, every number drawn.
#include "lessons/worked_example.h"

#include <imgui.h>

#include "lessons/lesson_common.h"

namespace attnscope::lessons {

WorkedExampleLesson::WorkedExampleLesson(std::vector<SmallHead> examples) : examples_(std::move(examples)) {
  numbers_.resize(examples_.size());
}

std::string WorkedExampleLesson::stepTitle(size_t step) const {
  static const char* names[kStepsPerExample] = {
      "Q, K and V: three projections of each token", "QK\u1d40: every query against every key",
      "\u00f7 \u221ad: keep the scores in softmax's useful range", "+ M: the mask hides the future",
      "softmax: each row becomes weights that sum to 1", "\u00b7 V: each token's output is a weighted blend"};
  return "\u201c" + examples_[step / kStepsPerExample].name + "\u201d  \u00b7  " + names[step % kStepsPerExample];
}

const WorkedExampleLesson::Numbers& WorkedExampleLesson::numbers(LessonEnv& env, size_t e) {
  if (!numbers_[e]) {
    const SmallHead& h = examples_[e];
    auto n = std::make_unique<Numbers>();
    n->raw = computeSmallAttention(env.ctx, env.kernels, specFor(h.n, h.d, MaskKind::None, 1.0), h.q, h.k);
    n->scaled = computeSmallAttention(env.ctx, env.kernels, specFor(h.n, h.d, MaskKind::None, std::nullopt), h.q, h.k);
    n->final = computeSmallAttention(env.ctx, env.kernels,
                                     specFor(h.n, h.d, h.causal ? MaskKind::Causal : MaskKind::None, std::nullopt),
                                     h.q, h.k, h.v);
    numbers_[e] = std::move(n);
  }
  return *numbers_[e];
}

Scene WorkedExampleLesson::draw(LessonEnv& env, size_t step, uint32_t width, uint32_t height) {
  size_t e = step / kStepsPerExample, s = step % kStepsPerExample;
  const SmallHead& h = examples_[e];
  const Numbers& num = numbers(env, e);
  Slide slide(env.font, width, height, env.reserveRight);
  slide.header(title(), step, steps(), stepTitle(step));
  slide.formula(attentionFormula(int(s)));
  auto dims = indexLabels("", h.d);
  MatrixView q{"Q", h.tokens, dims, h.n, h.d, toDouble(h.q)}, k{"K", h.tokens, dims, h.n, h.d, toDouble(h.k)},
      v{"V", h.tokens, dims, h.n, h.d, toDouble(h.v)};
  MatrixView kt{"K\u1d40", dims, h.tokens, h.d, h.n, transpose(h.k, h.n, h.d)};
  MatrixView raw{"QK\u1d40", h.tokens, h.tokens, h.n, h.n, toDouble(num.raw.logits), 2, CellColor::Signed};
  MatrixView scaled{"QK\u1d40 / \u221a" + std::to_string(h.d), h.tokens, h.tokens, h.n, h.n,
                    toDouble(num.scaled.logits), 2, CellColor::Signed};
  MatrixView masked{"QK\u1d40 / \u221a" + std::to_string(h.d) + " + M", h.tokens, h.tokens, h.n, h.n,
                    toDouble(num.final.logits), 2, CellColor::Signed};
  MatrixView probs{"P = softmax(\u2026)", h.tokens, h.tokens, h.n, h.n, toDouble(num.final.probs), 2,
                   CellColor::Probability};
  MatrixView out{"O = PV", h.tokens, dims, h.n, h.d, toDouble(num.final.out), 2};
  const std::string& t0 = h.tokens[0];
  const std::string& tl = h.tokens[h.n - 1];
  char buf[512];
  switch (s) {
    case 0:
      row(slide, {q, k, v}, {"", ""});
      std::snprintf(buf, sizeof buf,
                    "Each token brings a query (what it looks for), a key (what it offers) and a value (what it "
                    "passes on): %u tokens, d = %u. Q and K decide where to look; V is what comes back.",
                    h.n, h.d);
      break;
    case 1:
      raw.highlight = true;
      row(slide, {q, kt, raw}, {"\u00d7", "="});
      std::snprintf(buf, sizeof buf,
                    "Row i, column j is the dot product q_i \u00b7 k_j: \u201c%s\u201d against \u201c%s\u201d scores %s. "
                    "High when the two vectors point the same way.",
                    tl.c_str(), t0.c_str(), formatNumber(num.raw.logit(h.n - 1, 0), 2).c_str());
      break;
    case 2:
      scaled.highlight = true;
      row(slide, {raw, scaled}, {"\u00f7 " + formatNumber(std::sqrt(double(h.d)), 2)});
      std::snprintf(buf, sizeof buf,
                    "Divided by \u221ad = %s: dot products of d-dimensional vectors grow like \u221ad, and the scale keeps "
                    "them where softmax stays soft.",
                    formatNumber(std::sqrt(double(h.d)), 2).c_str());
      break;
    case 3:
      masked.highlight = true;
      row(slide, {scaled, masked}, {"\u2192"});
      std::snprintf(buf, sizeof buf, "%s",
                    h.causal ? "Causal: a token may only look at itself and earlier tokens. Scores above the "
                               "diagonal become \u2212\u221e, so softmax will give them exactly 0."
                             : "No mask here: every token sees every token (an encoder, or the example from the "
                               "lesson). M is all zeros.");
      break;
    case 4: {
      probs.highlight = true;
      row(slide, {masked, probs}, {"\u2192"});
      double sum = 0;
      for (uint32_t j = 0; j < h.n; ++j) sum += num.final.p(h.n - 1, j);
      std::snprintf(buf, sizeof buf,
                    "softmax(x)_j = exp(x_j) / \u03a3 exp(x_k), row by row: \u201c%s\u201d gives %s of its attention "
                    "to \u201c%s\u201d; its row sums to %s.",
                    tl.c_str(), formatNumber(num.final.p(h.n - 1, 0), 2).c_str(), t0.c_str(), formatNumber(sum, 2).c_str());
      break;
    }
    default:
      out.highlight = true;
      row(slide, {probs, v, out}, {"\u00d7", "="});
      std::snprintf(buf, sizeof buf,
                    "Each output row is the weights times the values: \u201c%s\u201d becomes %s \u00d7 V(\u201c%s\u201d) + "
                    "\u2026, a blend dominated by the tokens it attends to most.",
                    tl.c_str(), formatNumber(num.final.p(h.n - 1, 0), 2).c_str(), t0.c_str());
  }
  slide.caption(buf);
  return slide.finish();
}

// The window's controls (Dear ImGui).

bool WorkedExampleLesson::buildControls(size_t step) {
  size_t e = step / kStepsPerExample;
  SmallHead& h = examples_[e];
  bool changed = false;
  ImGui::TextUnformatted("Drag a number; every step follows.");
  for (auto [name, m] : {std::pair{"Q", &h.q}, std::pair{"K", &h.k}, std::pair{"V", &h.v}}) {
    ImGui::TextUnformatted(name);
    for (uint32_t i = 0; i < h.n; ++i) {
      ImGui::PushID(int(std::string(name)[0] * 1000 + i));
      // DragFloat4 and friends edit up to 4; wider rows are split.
      for (uint32_t c = 0; c < h.d; c += 4) {
        if (c) ImGui::SameLine();
        ImGui::PushID(int(c));
        ImGui::SetNextItemWidth(50.0f * std::min(4u, h.d - c));
        changed |= ImGui::DragScalarN(h.tokens[i].c_str(), ImGuiDataType_Float, m->data() + size_t(i) * h.d + c,
                                      int(std::min(4u, h.d - c)), 0.01f, nullptr, nullptr, "%.2f");
        ImGui::PopID();
      }
      ImGui::PopID();
    }
  }
  changed |= ImGui::Checkbox("causal mask", &h.causal);
  if (changed) numbers_[e].reset();
  return changed;
}

}  // namespace attnscope::lessons
