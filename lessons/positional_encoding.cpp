// Lesson 6, positional encoding: the sinusoidal table, PE.PE^T and rotary.
#include "lessons/positional_encoding.h"

#include <imgui.h>

#include "compute/rope.h"
#include "compute/synthetic.h"
#include "lessons/lesson_common.h"

namespace attnscope::lessons {

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

// The window's controls (Dear ImGui).

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

}  // namespace attnscope::lessons
