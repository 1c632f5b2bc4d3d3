// Lesson 5, heads: one sentence through heads with different patterns.
#include "lessons/heads.h"

#include <imgui.h>

#include "compute/synthetic.h"
#include "lessons/lesson_common.h"

namespace attnscope::lessons {

HeadsLesson::HeadsLesson(std::vector<std::string> tokens, std::vector<std::string> presets, std::string focus,
                         uint32_t d, uint32_t seed)
    : tokens_(std::move(tokens)), presets_(std::move(presets)), d_(d), seed_(seed) {
  auto it = std::find(tokens_.begin(), tokens_.end(), focus);
  if (it == tokens_.end()) throw Error("lesson data: the heads lesson's focus token '" + focus + "' is not in its sentence");
  focus_ = size_t(it - tokens_.begin());
  for (const auto& p : presets_)
    if (p != "previous") parsePreset(p);  // names checked now, not at the last step
  numbers_.resize(presets_.size());
}

std::string HeadsLesson::stepTitle(size_t step) const {
  static const std::map<std::string, std::string> what = {
      {"previous", "a previous-token head: each token looks at the one before it"},
      {"local", "a local head: attention on nearby tokens"},
      {"sink", "a first-token head: everyone looks at the start (an attention sink)"},
      {"broad", "a broad head: attention spread over the whole past"},
      {"mixed", "a mixed head"}};
  if (step < presets_.size()) {
    auto it = what.find(presets_[step]);
    return "head " + std::to_string(step + 1) + ": " + (it == what.end() ? presets_[step] : it->second);
  }
  return "\u201c" + tokens_[focus_] + "\u201d in every head";
}

const HeadsLesson::Numbers& HeadsLesson::numbers(LessonEnv& env, size_t h) {
  if (!numbers_[h]) {
    auto num = std::make_unique<Numbers>();
    uint32_t n = uint32_t(tokens_.size());
    if (presets_[h] == "previous") {
      // The rotary construction of a previous-token head: q_i = R(i) u and k_j = R(j + 1) u,
      // so q_i · k_j = u · R(j + 1 - i) u, largest where j = i - 1.
      num->q.resize(size_t(n) * d_);
      num->k.resize(size_t(n) * d_);
      const double amp = 4.0;
      for (uint32_t i = 0; i < n; ++i)
        for (uint32_t c = 0; c < d_ / 2; ++c) {
          double theta = std::pow(10000.0, -2.0 * c / d_);
          for (auto [out, pos] : {std::pair{&num->q, double(i)}, std::pair{&num->k, double(i) + 1}}) {
            (*out)[size_t(i) * d_ + c] = float(amp * (std::cos(pos * theta) - std::sin(pos * theta)));
            (*out)[size_t(i) * d_ + c + d_ / 2] = float(amp * (std::sin(pos * theta) + std::cos(pos * theta)));
          }
        }
    } else {
      SyntheticSpec syn;
      syn.preset = parsePreset(presets_[h]);
      syn.n = n;
      syn.d = d_;
      syn.seed = seed_;
      syn.withV = false;
      HeadData head = generateHead(env.ctx, env.kernels, syn);
      num->q = head.download(head.q());
      num->k = head.download(head.k());
    }
    num->attention = computeSmallAttention(env.ctx, env.kernels, specFor(n, d_, MaskKind::Causal, std::nullopt),
                                           num->q, num->k);
    numbers_[h] = std::move(num);
  }
  return *numbers_[h];
}

Scene HeadsLesson::draw(LessonEnv& env, size_t step, uint32_t width, uint32_t height) {
  Slide slide(env.font, width, height, env.reserveRight);
  slide.header(title(), step, steps(), stepTitle(step));
  slide.formula({{"head_h = softmax(", step < presets_.size()}, {"Q_h K_h\u1d40", step < presets_.size()},
                 {" / \u221ad) V_h,  h = 1 \u2026 " + std::to_string(presets_.size())}});
  uint32_t n = uint32_t(tokens_.size());
  Rect c = slide.content();
  if (step < presets_.size()) {
    const Numbers& num = numbers(env, step);
    MatrixView m{"attention weights, causal", tokens_, tokens_, n, n, toDouble(num.attention.probs), 2,
                 CellColor::Probability, true};
    slide.matrix({c.x + c.w * 0.15f, c.y, c.w * 0.7f, c.h}, m, &labelRects_);
    const char* why = presets_[step] == "previous" ? "Its queries match the key one position back (rotary "
                                                     "positions make that a fixed angle): a pattern for grammar and "
                                                     "copying the previous word."
                      : presets_[step] == "local" ? "Its queries prefer keys close by."
                      : presets_[step] == "sink" ? "Its queries all match the first token's key. Models park attention "
                                                   "there when nothing else is relevant."
                                                 : "No key stands out, so the weights spread: a head that averages "
                                                   "the context.";
    slide.caption(std::string(why) + " Each head has its own Q and K projections of the same tokens. Click a "
                  "token to see its row in every head.");
  } else {
    float w = c.w / presets_.size();
    for (size_t h = 0; h < presets_.size(); ++h) {
      const Numbers& num = numbers(env, h);
      std::vector<double> row(num.attention.probs.begin() + focus_ * n, num.attention.probs.begin() + (focus_ + 1) * n);
      row.resize(focus_ + 1);  // causal: only the past and itself
      std::vector<std::string> labels(tokens_.begin(), tokens_.begin() + focus_ + 1);
      slide.bars({c.x + h * w + 8 * slide.scale(), c.y, w - 16 * slide.scale(), c.h}, "head " + std::to_string(h + 1) +
                 " (" + presets_[h] + ")", labels, row, 2);
    }
    slide.caption("The same token reads different things in each head; the model concatenates the heads' outputs, "
                  "so one layer can look back one token, hold on to the start and summarise the past at once.");
  }
  return slide.finish();
}

// The window's controls (Dear ImGui).

bool HeadsLesson::buildControls(size_t step) {
  if (step < presets_.size()) return false;
  int f = int(focus_);
  std::string items;
  for (const auto& t : tokens_) items += t + '\0';
  if (!ImGui::Combo("token", &f, items.c_str())) return false;
  focus_ = size_t(f);
  return true;  // the rows are all computed already
}

bool HeadsLesson::click(size_t& step, float x, float y) {
  if (step >= presets_.size()) return false;
  for (size_t i = 0; i < labelRects_.size(); ++i) {
    const Rect& r = labelRects_[i];
    if (x >= r.x && x < r.x + r.w && y >= r.y && y < r.y + r.h) {
      focus_ = i;
      step = presets_.size();  // the comparison across heads
      return true;
    }
  }
  return false;
}

}  // namespace attnscope::lessons
