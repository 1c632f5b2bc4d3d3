#include "lessons/lessons.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <random>

#include <imgui.h>

#include "compute/map_job.h"
#include "compute/rope.h"
#include "compute/row_stats_pass.h"
#include "engine/image.h"
#include "compute/synthetic.h"
#include "engine/commands.h"
#include "engine/context.h"
#include "engine/error.h"
#include "engine/paths.h"

namespace attnscope::lessons {

double entropyOf(const float* p, size_t n) {
  double h = 0;
  for (size_t i = 0; i < n; ++i)
    if (p[i] > 0) h -= double(p[i]) * std::log(double(p[i]));
  return h;
}

std::vector<float> normalMatrix(uint32_t rows, uint32_t cols, uint64_t seed) {
  // Box-Muller on mt19937_64's raw output: the same numbers with every standard library.
  std::mt19937_64 rng(seed);
  auto uniform = [&] { return (double(rng() >> 11) + 0.5) / 9007199254740992.0; };
  std::vector<float> out(size_t(rows) * cols);
  for (size_t i = 0; i < out.size(); i += 2) {
    double r = std::sqrt(-2 * std::log(uniform())), a = 2 * M_PI * uniform();
    out[i] = float(r * std::cos(a));
    if (i + 1 < out.size()) out[i + 1] = float(r * std::sin(a));
  }
  return out;
}

namespace {

AttentionSpec specFor(uint32_t n, uint32_t d, MaskKind mask, std::optional<double> scale, double temperature = 1) {
  AttentionSpec s;
  s.n = n;
  s.d = d;
  s.mask = mask;
  s.scale = scale;
  s.temperature = temperature;
  return s;
}

// 1 000 000 with thin spaces between thousands.
std::string groupedNumber(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.0f", v);
  std::string s = buf, out;
  int k = 0;
  for (size_t i = s.size(); i-- > 0;) {
    out.insert(0, 1, s[i]);
    if (++k % 3 == 0 && i > 0 && s[i - 1] != '-') out.insert(0, "\u2009");
  }
  return out;
}

std::string byteText(double b) {
  const char* units[] = {"bytes", "KB", "MB", "GB", "TB"};
  int u = 0;
  while (b >= 1000 && u < 4) {
    b /= 1000;
    ++u;
  }
  return formatNumber(b, b < 10 && u > 0 ? 1 : 0) + " " + units[u];
}

std::vector<double> toDouble(const std::vector<float>& v) { return std::vector<double>(v.begin(), v.end()); }

std::vector<std::string> indexLabels(const std::string& prefix, uint32_t n) {
  std::vector<std::string> l;
  for (uint32_t i = 0; i < n; ++i) l.push_back(prefix + std::to_string(i + 1));
  return l;
}

// Transposed copy of an [rows][cols] matrix.
std::vector<double> transpose(const std::vector<float>& m, uint32_t rows, uint32_t cols) {
  std::vector<double> t(m.size());
  for (uint32_t i = 0; i < rows; ++i)
    for (uint32_t j = 0; j < cols; ++j) t[size_t(j) * rows + i] = m[size_t(i) * cols + j];
  return t;
}

// Matrices side by side across the content area, with operators between them.
void row(Slide& s, const std::vector<MatrixView>& ms, const std::vector<std::string>& ops) {
  Rect c = s.content();
  float opW = 44 * s.scale();
  float w = (c.w - opW * ops.size()) / ms.size();
  float x = c.x;
  for (size_t i = 0; i < ms.size(); ++i) {
    Rect r{x, c.y, w, c.h};
    Rect grid = s.matrix(r, ms[i]);
    x += w;
    if (i < ops.size()) {
      s.text(ops[i], x + opW / 2, grid.y + grid.h / 2, s.titleSize(), kSoftInk, 1);
      x += opW;
    }
  }
}

std::vector<FormulaPart> attentionFormula(int on) {
  std::vector<FormulaPart> f = {{"Attention(Q, K, V) = "}, {"softmax("}, {"QK\u1d40"}, {" / \u221ad"},
                                {" + M"}, {")"}, {" \u00b7 V"}};
  if (on == 0) f[0].on = true;
  if (on == 1) f[2].on = true;
  if (on == 2) f[3].on = true;
  if (on == 3) f[4].on = true;
  if (on == 4) f[1].on = f[5].on = true;
  if (on == 5) f[6].on = true;
  return f;
}

}  // namespace

// ---- 1. worked example ---------------------------------------------------------------------

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

// ---- 2. why √d ---------------------------------------------------------------------------

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

// ---- 3. temperature ----------------------------------------------------------------------

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

// ---- 4. causal mask ----------------------------------------------------------------------

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

// ---- 5. heads ------------------------------------------------------------------------------

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

// ---- 6. positional encoding ----------------------------------------------------------------

namespace {

// An RGBA32F image whose texels show `values` ([h][w]) through the heatmap shader.
std::shared_ptr<Image> valueImage(Context& ctx, const std::vector<float>& values, uint32_t w, uint32_t h) {
  std::vector<float> texels(size_t(w) * h * 4);
  for (size_t i = 0; i < size_t(w) * h; ++i) {
    texels[i * 4 + 0] = texels[i * 4 + 1] = values[i];
    texels[i * 4 + 2] = 0;
    texels[i * 4 + 3] = 1;  // computed
  }
  auto img = std::make_shared<Image>(ctx, w, h, VK_FORMAT_R32G32B32A32_SFLOAT,
                                     VK_IMAGE_USAGE_SAMPLED_BIT | VK_IMAGE_USAGE_TRANSFER_DST_BIT, "lesson values");
  uploadImage(ctx, *img, texels.data(), texels.size() * 4);
  return img;
}

}  // namespace

PositionalEncodingLesson::PositionalEncodingLesson(Sizes sizes) : sizes_(sizes) {}

std::string PositionalEncodingLesson::stepTitle(size_t step) const {
  static const char* names[4] = {"the first positions, exactly: sine and cosine waves of falling frequency",
                                 "the whole table", "PE \u00b7 PE\u1d40: similarity depends on distance",
                                 "rotary (RoPE): q \u00b7 k depends on i \u2212 j alone"};
  return names[step];
}

const PositionalEncodingLesson::Numbers& PositionalEncodingLesson::numbers(LessonEnv& env) {
  if (numbers_) return *numbers_;
  auto num = std::make_unique<Numbers>();
  const Sizes& z = sizes_;
  std::vector<float> zoomAll = computePositionalEncoding(env.ctx, env.kernels, 0, z.zoomPositions, z.dModel);
  num->zoom.resize(size_t(z.zoomPositions) * z.zoomDims);
  for (uint32_t p = 0; p < z.zoomPositions; ++p)
    std::copy(zoomAll.begin() + size_t(p) * z.dModel, zoomAll.begin() + size_t(p) * z.dModel + z.zoomDims,
              num->zoom.begin() + size_t(p) * z.zoomDims);
  // The whole table, a chunk of positions at a time, each texel row the mean of its positions.
  num->wholeRows = std::min(z.positions, 1000u);
  num->wholeMeans.assign(size_t(num->wholeRows) * z.dModel, 0.0f);
  std::vector<double> acc(z.dModel);
  const uint32_t chunk = 8192;
  for (uint32_t p0 = 0; p0 < z.positions; p0 += chunk) {
    uint32_t p1 = std::min(z.positions, p0 + chunk);
    std::vector<float> pe = computePositionalEncoding(env.ctx, env.kernels, p0, p1, z.dModel);
    for (uint32_t p = p0; p < p1; ++p) {
      uint32_t row = uint32_t(uint64_t(p) * num->wholeRows / z.positions);
      for (uint32_t c = 0; c < z.dModel; ++c) num->wholeMeans[size_t(row) * z.dModel + c] += pe[size_t(p - p0) * z.dModel + c];
    }
  }
  for (uint32_t r = 0; r < num->wholeRows; ++r) {
    uint64_t first = (uint64_t(r) * z.positions + num->wholeRows - 1) / num->wholeRows;
    uint64_t last = (uint64_t(r + 1) * z.positions + num->wholeRows - 1) / num->wholeRows;
    for (uint32_t c = 0; c < z.dModel; ++c) num->wholeMeans[size_t(r) * z.dModel + c] /= float(last - first);
  }
  // PE · PEᵀ through the attention pass: Q = K = PE, scale 1.
  uint32_t n = z.similarityPositions;
  std::vector<float> pe = computePositionalEncoding(env.ctx, env.kernels, 0, n, z.similarityDModel);
  num->similarity = computeSmallAttention(env.ctx, env.kernels, specFor(n, z.similarityDModel, MaskKind::None, 1.0), pe, pe);
  // Rotary: every position's q and k is the same vector u, rotated by its position on the GPU.
  std::vector<float> u(size_t(n) * z.ropeDim, 1.0f / std::sqrt(float(z.ropeDim)));
  HeadData head = HeadData::fromHost(env.ctx, n, z.ropeDim, u.data(), u.data(), nullptr);
  applyRope(env.ctx, env.kernels, head, {z.ropeBase, 0, true});
  num->ropeQ = head.download(head.q());
  std::vector<float> rk = head.download(head.k());
  num->rotary = computeSmallAttention(env.ctx, env.kernels, specFor(n, z.ropeDim, MaskKind::None, 1.0), num->ropeQ, rk);
  images_ = {valueImage(env.ctx, num->zoom, z.zoomDims, z.zoomPositions),
             valueImage(env.ctx, num->wholeMeans, z.dModel, num->wholeRows),
             valueImage(env.ctx, num->similarity.logits, n, n), valueImage(env.ctx, num->rotary.logits, n, n)};
  numbers_ = std::move(num);
  return *numbers_;
}

Scene PositionalEncodingLesson::draw(LessonEnv& env, size_t step, uint32_t width, uint32_t height) {
  if (images_.empty()) numbers_.reset();  // the device objects were released: make them again
  const Numbers& num = numbers(env);
  const Sizes& z = sizes_;
  Slide slide(env.font, width, height, env.reserveRight);
  slide.header(title(), step, steps(), stepTitle(step));
  if (step < 2)
    slide.formula({{"PE(pos, 2i) = sin(pos / 10000^(2i/d)),  PE(pos, 2i+1) = cos(pos / 10000^(2i/d))", true}});
  else if (step == 2)
    slide.formula({{"PE_i \u00b7 PE_j = \u03a3 cos((i \u2212 j) \u03c9_k)", true}});
  else
    slide.formula({{"(R_i q) \u00b7 (R_j k) = q \u00b7 R_(j\u2212i) k", true}});
  Rect c = slide.content();
  HeatmapStyle lin;
  lin.logScale = false;
  auto panel = [&](size_t img, const Rect& r, ValueRange range, const std::string& label, const std::string& xl,
                   const std::string& yl) {
    slide.panel({images_[img].get(), r, lin, range, VK_IMAGE_LAYOUT_SHADER_READ_ONLY_OPTIMAL});
    slide.frame(r, 1, kRule);
    slide.text(label, r.x + r.w / 2, r.y - 14 * slide.scale(), slide.bodySize(), kInk, 1);
    slide.text(xl, r.x + r.w / 2, r.y + r.h + 14 * slide.scale(), TextSize::Small, kSoftInk, 1);
    slide.text(yl, r.x - 8 * slide.scale(), r.y + r.h / 2, TextSize::Small, kSoftInk, 2);
  };
  float top = c.y + 34 * slide.scale(), h = c.h - 64 * slide.scale();
  std::string text;
  if (step == 0) {
    Rect r{c.x + 90 * slide.scale(), top, std::min(c.w - 120 * slide.scale(), h * 2.0f), h};
    panel(0, r, {-1, 1}, "PE of positions 0 to " + std::to_string(z.zoomPositions - 1) + ", dimensions 0 to " +
                             std::to_string(z.zoomDims - 1) + " (viridis from \u22121 to 1)",
          "dimension \u2192", "position \u2193");
    text = "Each position gets a vector of sines and cosines. The first dimensions oscillate fast (a new colour every "
           "position), later ones ever slower: together they give every position a unique code. Position 1, "
           "dimension 0 is sin(1) = " + formatNumber(num.zoom[z.zoomDims], 3) + ".";
  } else if (step == 1) {
    Rect r{c.x + 90 * slide.scale(), top, std::min(c.w - 120 * slide.scale(), h * 1.6f), h};
    panel(1, r, {-1, 1}, "all " + groupedNumber(z.positions) + " positions \u00d7 " + std::to_string(z.dModel) +
                             " dimensions (each texel row the mean of " + groupedNumber(double(z.positions) / num.wholeRows) +
                             " positions)",
          "dimension \u2192", "position \u2193");
    text = "At this zoom the fast dimensions average to nearly 0 (grey-green): only the slow ones still change over "
           "100 000 positions. Those are what tell distant positions apart.";
  } else {
    float side = std::min(h, c.w / 2 - 80 * slide.scale());
    Rect left{c.x + c.w / 4 - side / 2, top, side, side}, right{c.x + 3 * c.w / 4 - side / 2, top, side, side};
    auto rangeOf = [](const std::vector<float>& v) {
      auto [lo, hi] = std::minmax_element(v.begin(), v.end());
      return ValueRange{*lo, *hi > *lo ? *hi : *lo + 1};
    };
    std::string n = std::to_string(z.similarityPositions);
    panel(2, left, rangeOf(num.similarity.logits), "PE_i \u00b7 PE_j, d = " + std::to_string(z.similarityDModel),
          "position j (0 to " + n + ")", "i");
    panel(3, right, rangeOf(num.rotary.logits), "rotary: R_i u \u00b7 R_j u, d = " + std::to_string(z.ropeDim),
          "position j (0 to " + n + ")", "i");
    if (step == 2)
      text = "Each cell is the dot product of two positions' encodings: the same along every diagonal, so it measures "
             "distance, largest at i = j (" + formatNumber(num.similarity.logit(0, 0), 1) + ") and falling away.";
    else
      text = "Rotary embedding rotates q and k by their positions instead of adding a vector: their dot product then "
             "depends only on i \u2212 j, exactly (" + formatNumber(num.rotary.logit(10, 3), 3) + " at (10, 3), " +
             formatNumber(num.rotary.logit(100, 93), 3) + " at (100, 93)).";
  }
  slide.caption(text);
  return slide.finish();
}

// ---- 7. quadratic cost --------------------------------------------------------------------

QuadraticCostLesson::QuadraticCostLesson(std::vector<uint32_t> ns, uint32_t d, double measureCells)
    : ns_(std::move(ns)), d_(d), measureCells_(measureCells) {
  numbers_.resize(ns_.size());
}

std::string QuadraticCostLesson::stepTitle(size_t step) const {
  return "n = " + groupedNumber(ns_[step]) + " tokens";
}

const QuadraticCostLesson::Numbers& QuadraticCostLesson::numbers(LessonEnv& env, size_t step) {
  if (numbers_[step]) return *numbers_[step];
  auto num = std::make_unique<Numbers>();
  uint32_t n = ns_[step];
  num->n = n;
  num->d = d_;
  num->device = env.ctx.caps().name;
  SyntheticSpec syn;
  syn.n = n;
  syn.d = d_;
  syn.withV = false;
  HeadData head = generateHead(env.ctx, env.kernels, syn);
  AttentionSpec spec = specFor(n, d_, MaskKind::Causal, std::nullopt);
  num->cells = double(n) * n;
  num->unmaskedCells = double(spec.unmaskedCells(0, n, 0, n));
  num->denseBytes = 4.0 * num->cells;
  num->flops = 2.0 * d_ * num->unmaskedCells;
  // Time the row statistics of the last rows (the longest, causal) against all their keys:
  // every row when that is cheap enough here, else as many as `measureCells_` allows.
  uint32_t rows = uint32_t(std::clamp(measureCells_ / n, 1.0, double(n)));
  num->rowsTimed = rows;
  RowStatsPass pass(env.ctx, env.kernels, n, rows, head.dp());
  Buffer stats(env.ctx, uint64_t(rows) * kStatsBytes, VK_BUFFER_USAGE_STORAGE_BUFFER_BIT, MemoryUse::DeviceLocal,
               "lesson stats");
  CommandStream stream(env.ctx);
  double best = 1e300;
  for (int rep = 0; rep < 2; ++rep) {
    stream.timer().clearTotals();
    Recording rec = stream.begin();
    pass.record(rec, head, spec, n - rows, n, stats, n - rows);
    auto t0 = std::chrono::steady_clock::now();
    stream.submitAndWait();
    double wall = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    const auto& totals = stream.timer().totalsMs();
    best = std::min(best, totals.count("row_stats") ? totals.at("row_stats") : wall);
  }
  num->timedMs = best;
  double timedCells = double(spec.unmaskedCells(n - rows, n, 0, n));
  num->wholeMs = rows == n ? best : best * num->unmaskedCells / timedCells;
  // The map: all of it up to 2048 tokens, else its first 2048 x 2048 cells.
  num->mapN = std::min(n, 2048u);
  uint32_t texels = std::min(num->mapN, 512u);
  num->map = std::make_shared<MapJob>(env.ctx, env.kernels, head, spec, MapRegion{0, num->mapN, 0, num->mapN}, texels,
                                      texels);
  while (!num->map->done()) {
    Recording rec = stream.begin();
    num->map->recordNext(rec);
    stream.submitAndWait();
  }
  HeatmapStyle style;
  num->range = chooseRange(readbackImage(env.ctx, num->map->image()), style);
  numbers_[step] = std::move(num);
  return *numbers_[step];
}

Scene QuadraticCostLesson::draw(LessonEnv& env, size_t step, uint32_t width, uint32_t height) {
  const Numbers& num = numbers(env, step);
  Slide slide(env.font, width, height, env.reserveRight);
  slide.header(title(), step, steps(), stepTitle(step));
  slide.formula({{"QK\u1d40 is "}, {"n \u00d7 n", true}, {": every token scores every other"}});
  Rect c = slide.content();
  // The slider: n on a log axis from the first to the last step.
  float sx = c.x + 40 * slide.scale(), sw = c.w - 80 * slide.scale(), sy = c.y + 18 * slide.scale();
  slide.rect({sx, sy - 2, sw, 4}, kRule);
  double l0 = std::log10(double(ns_.front())), l1 = std::log10(double(ns_.back()));
  for (size_t i = 0; i < ns_.size(); ++i) {
    float x = sx + float((std::log10(double(ns_[i])) - l0) / std::max(1e-9, l1 - l0)) * sw;
    slide.rect({x - 2, sy - 8, 4, 16}, i == step ? kAccent : kSoftInk);
    slide.text(groupedNumber(ns_[i]), x, sy + 22 * slide.scale(), TextSize::Small, i == step ? kAccent : kSoftInk, 1);
  }
  float top = sy + 50 * slide.scale();
  float side = std::min(c.h - (top - c.y) - 30 * slide.scale(), c.w * 0.42f);
  Rect map{c.x + 20 * slide.scale(), top + 24 * slide.scale(), side, side};
  HeatmapStyle style;
  slide.panel({&num.map->image(), map, style, num.range});
  slide.frame(map, 1, kRule);
  std::string mapTitle = num.mapN == num.n ? "the whole map, " + groupedNumber(num.n) + " \u00d7 " + groupedNumber(num.n)
                                           : "its first " + groupedNumber(num.mapN) + " \u00d7 " + groupedNumber(num.mapN) +
                                                 " cells (" + formatNumber(100.0 * num.mapN * num.mapN / num.cells, 4) + " %)";
  slide.text(mapTitle, map.x + map.w / 2, top + 8 * slide.scale(), slide.bodySize(), kInk, 1);
  float tx = map.x + map.w + 50 * slide.scale(), ty = top + 20 * slide.scale(), line = 44 * slide.scale();
  auto fact = [&](const std::string& label, const std::string& value) {
    slide.text(label, tx, ty, slide.bodySize(), kSoftInk);
    slide.text(value, tx, ty + line * 0.45f, slide.titleSize(), kInk);
    ty += line * 1.25f;
  };
  fact("cells in the map (n\u00b2)", groupedNumber(num.cells));
  fact("as a dense float32 matrix", byteText(num.denseBytes));
  fact("FLOPs for its row statistics (2d per causal cell, d = " + std::to_string(num.d) + ")", groupedNumber(num.flops));
  std::string timed = num.rowsTimed == num.n
                          ? formatNumber(num.timedMs, num.timedMs < 10 ? 2 : 0) + " ms, every row"
                          : formatNumber(num.wholeMs / 1000, 1) + " s  (timed: " + groupedNumber(num.rowsTimed) +
                                " rows \u00d7 all keys in " + formatNumber(num.timedMs, 0) + " ms)";
  fact("row-statistics pass on " + num.device + ", measured", timed);
  char buf[512];
  if (step == 0) {
    std::snprintf(buf, sizeof buf,
                  "Every token scores every other: %s tokens make %s cells. The next steps grow n; watch the "
                  "cells, the bytes and the time grow with its square.",
                  groupedNumber(num.n).c_str(), groupedNumber(num.cells).c_str());
  } else {
    const Numbers& prev = numbers(env, step - 1);
    double grow = double(num.n) / prev.n;
    std::snprintf(buf, sizeof buf,
                  "%s times the tokens, %s times the cells and about %s times the time. That is why long context "
                  "is hard, and why attnscope never stores the map: it recomputes what is shown.",
                  formatNumber(grow, 0).c_str(), formatNumber(grow * grow, 0).c_str(),
                  formatNumber(num.wholeMs / std::max(1e-9, prev.wholeMs), 0).c_str());
  }
  slide.caption(buf);
  return slide.finish();
}

// ---- the data file -----------------------------------------------------------------------

namespace {

std::vector<float> flatMatrix(const nlohmann::json& j, uint32_t rows, uint32_t& cols, const std::string& where) {
  if (!j.is_array() || j.size() != rows) throw Error(where + " must be " + std::to_string(rows) + " rows");
  std::vector<float> out;
  for (const auto& r : j) {
    if (!r.is_array() || r.empty()) throw Error(where + " has a row that is not a list of numbers");
    if (cols == 0) cols = uint32_t(r.size());
    if (r.size() != cols) throw Error(where + " has rows of different lengths");
    for (const auto& v : r) {
      if (!v.is_number()) throw Error(where + " holds something that is not a number");
      out.push_back(v.get<float>());
    }
  }
  return out;
}

}  // namespace

std::vector<std::unique_ptr<Lesson>> loadLessons(const std::string& pathArg) {
  std::string path = pathArg.empty() ? (dataDir() / "lessons" / "lessons.json").string() : pathArg;
  std::ifstream in(path);
  if (!in) throw Error("lesson data '" + path + "' cannot be read (set ATTNSCOPE_DATA_DIR?)");
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(in);
    std::vector<std::unique_ptr<Lesson>> out;
    std::vector<SmallHead> examples;
    for (const auto& e : j.at("worked_example")) {
      SmallHead h;
      h.name = e.at("name").get<std::string>();
      h.tokens = e.at("tokens").get<std::vector<std::string>>();
      h.causal = e.at("causal").get<bool>();
      h.n = uint32_t(h.tokens.size());
      std::string where = "lesson data '" + path + "', worked example '" + h.name + "'";
      uint32_t d = 0;
      h.q = flatMatrix(e.at("q"), h.n, d, where + ", q");
      h.k = flatMatrix(e.at("k"), h.n, d, where + ", k");
      h.v = flatMatrix(e.at("v"), h.n, d, where + ", v");
      h.d = d;
      examples.push_back(std::move(h));
    }
    out.push_back(std::make_unique<WorkedExampleLesson>(std::move(examples)));
    const auto& w = j.at("why_sqrt_d");
    out.push_back(std::make_unique<WhySqrtDLesson>(w.at("dims").get<std::vector<uint32_t>>(), w.at("keys").get<uint32_t>(),
                                                   w.at("seed").get<uint64_t>()));
    const auto& t = j.at("temperature");
    auto cands = t.at("candidates").get<std::vector<std::string>>();
    auto logits = t.at("logits").get<std::vector<float>>();
    if (cands.size() != logits.size() || cands.empty())
      throw Error("lesson data '" + path + "': temperature needs one logit per candidate");
    auto temps = t.at("temperatures").get<std::vector<double>>();
    auto caps = t.contains("softcaps") ? t.at("softcaps").get<std::vector<double>>() : std::vector<double>(temps.size(), 0.0);
    if (caps.size() != temps.size())
      throw Error("lesson data '" + path + "': temperature needs one softcaps entry (0 for none) per temperature");
    out.push_back(std::make_unique<TemperatureLesson>(t.at("sentence").get<std::string>(), cands, logits, temps, caps));
    const auto& c = j.at("causal_mask");
    SmallHead ch;
    ch.name = "causal";
    ch.tokens = c.at("tokens").get<std::vector<std::string>>();
    ch.n = uint32_t(ch.tokens.size());
    ch.d = c.at("dim").get<uint32_t>();
    ch.causal = true;
    ch.q = normalMatrix(ch.n, ch.d, c.at("seed").get<uint64_t>());
    ch.k = normalMatrix(ch.n, ch.d, c.at("seed").get<uint64_t>() + 1);
    out.push_back(std::make_unique<CausalMaskLesson>(std::move(ch)));
    const auto& hd = j.at("heads");
    out.push_back(std::make_unique<HeadsLesson>(hd.at("tokens").get<std::vector<std::string>>(),
                                                hd.at("presets").get<std::vector<std::string>>(),
                                                hd.at("focus").get<std::string>(), hd.at("dim").get<uint32_t>(),
                                                hd.at("seed").get<uint32_t>()));
    const auto& pe = j.at("positional_encoding");
    PositionalEncodingLesson::Sizes sz;
    sz.positions = pe.at("positions").get<uint32_t>();
    sz.dModel = pe.at("d_model").get<uint32_t>();
    sz.zoomPositions = pe.at("zoom_positions").get<uint32_t>();
    sz.zoomDims = pe.at("zoom_dims").get<uint32_t>();
    sz.similarityPositions = pe.at("similarity_positions").get<uint32_t>();
    sz.similarityDModel = pe.at("similarity_d_model").get<uint32_t>();
    sz.ropeDim = pe.at("rope_dim").get<uint32_t>();
    sz.ropeBase = pe.at("rope_base").get<double>();
    if (sz.zoomDims > sz.dModel || sz.positions < 1 || sz.dModel % 2 || sz.similarityPositions < 101)
      throw Error("lesson data '" + path + "': positional_encoding sizes do not fit together");
    out.push_back(std::make_unique<PositionalEncodingLesson>(sz));
    const auto& qc = j.at("quadratic_cost");
    out.push_back(std::make_unique<QuadraticCostLesson>(qc.at("tokens").get<std::vector<uint32_t>>(),
                                                        qc.at("dim").get<uint32_t>(),
                                                        qc.at("timed_cells").get<double>()));
    return out;
  } catch (const nlohmann::json::exception& e) {
    throw Error("lesson data '" + path + "' is malformed: " + e.what());
  }
}

}  // namespace attnscope::lessons

// ---- the window's controls (Dear ImGui) ------------------------------------------------------

namespace attnscope::lessons {

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

bool WhySqrtDLesson::buildControls(size_t step) {
  int d = int(dims_[step]);
  if (!ImGui::SliderInt("d", &d, 1, int(kMaxHeadDim), "%d", ImGuiSliderFlags_Logarithmic)) return false;
  dims_[step] = uint32_t(std::clamp(d, 1, int(kMaxHeadDim)));
  numbers_[step].reset();
  return true;
}

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

bool HeadsLesson::buildControls(size_t step) {
  if (step < presets_.size()) return false;
  int f = int(focus_);
  std::string items;
  for (const auto& t : tokens_) items += t + '\0';
  if (!ImGui::Combo("token", &f, items.c_str())) return false;
  focus_ = size_t(f);
  return true;  // the rows are all computed already
}

bool QuadraticCostLesson::buildControls(size_t step) {
  // Applied when the slider is let go: a million tokens takes seconds to generate and time.
  if (sliderStep_ != step) {
    sliderStep_ = step;
    sliderN_ = int(ns_[step]);
  }
  ImGui::SliderInt("n", &sliderN_, 16, 1000000, "%d", ImGuiSliderFlags_Logarithmic);
  if (!ImGui::IsItemDeactivatedAfterEdit()) return false;
  ns_[step] = uint32_t(std::clamp(sliderN_, 16, 1000000));
  numbers_[step].reset();
  if (step + 1 < numbers_.size()) numbers_[step + 1].reset();  // its caption compares with this step
  return true;
}

}  // namespace attnscope::lessons

namespace attnscope::lessons {

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

bool PositionalEncodingLesson::buildControls(size_t step) {
  if (step > 1) return false;
  int positions = int(step == 0 ? sizes_.zoomPositions : sizes_.positions);
  int dims = int(step == 0 ? sizes_.zoomDims : sizes_.dModel);
  bool changed = ImGui::SliderInt("positions", &positions, 16, 100000, "%d", ImGuiSliderFlags_Logarithmic);
  changed |= ImGui::SliderInt("dimensions", &dims, 16, 1024, "%d", ImGuiSliderFlags_Logarithmic);
  if (!changed) return false;
  dims = std::clamp(dims / 2 * 2, 16, 1024);
  positions = std::clamp(positions, 16, 100000);
  if (step == 0) {
    sizes_.zoomPositions = uint32_t(std::min(positions, 1024));  // one texel per value
    sizes_.zoomDims = uint32_t(std::min<int>(dims, int(sizes_.dModel)));
  } else {
    sizes_.positions = uint32_t(positions);
    sizes_.dModel = uint32_t(std::max<int>(dims, int(sizes_.zoomDims)));
  }
  numbers_.reset();
  images_.clear();
  return true;
}

Scene drawContents(const FontAtlas& font, const std::vector<std::unique_ptr<Lesson>>& lessons, size_t selected,
                   uint32_t width, uint32_t height, std::vector<Rect>* rows) {
  Slide slide(font, width, height);
  slide.header("attnscope lessons: attention, live", 0, 0, "every number computed by the GPU passes that draw 100k-token maps");
  Rect c = slide.content();
  float line = 58 * slide.scale(), y = c.y + 10 * slide.scale();
  if (rows) rows->clear();
  for (size_t i = 0; i < lessons.size(); ++i) {
    Rect r{c.x, y, c.w, line - 6 * slide.scale()};
    if (i == selected) slide.rect(r, rgba(252, 232, 214));
    slide.text(std::to_string(i + 1), r.x + 30 * slide.scale(), r.y + r.h / 2, slide.titleSize(), kAccent, 1);
    slide.text(lessons[i]->title(), r.x + 70 * slide.scale(), r.y + r.h * 0.35f, slide.bodySize(), kInk);
    slide.text(lessons[i]->name() + "  \u00b7  " + std::to_string(lessons[i]->steps()) + " steps", r.x + 70 * slide.scale(),
               r.y + r.h * 0.75f, TextSize::Small, kSoftInk);
    if (rows) rows->push_back(r);
    y += line;
  }
  slide.caption("Click a lesson or press its number (\u2191 \u2193 and Enter work too). In a lesson: \u2190 \u2192 step, "
                "Esc back here; the panel's controls change the lesson's inputs.");
  return slide.finish();
}

}  // namespace attnscope::lessons
