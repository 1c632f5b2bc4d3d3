#include "lessons/slide.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "viz/colormap.h"

namespace attnscope::lessons {

std::string formatNumber(double v, int decimals) {
  if (std::isinf(v)) return v < 0 ? "\u2212\u221e" : "\u221e";
  if (std::isnan(v)) return "NaN";
  char buf[48];
  double a = std::abs(v);
  if (a != 0 && (a < std::pow(10.0, -decimals) / 2 || a >= 1e6)) std::snprintf(buf, sizeof buf, "%.1e", v);
  else std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  std::string s = buf;
  if (s == "-0" || s.rfind("-0.", 0) == 0) {
    bool allZero = s.find_first_not_of("-0.") == std::string::npos;
    if (allZero) s = s.substr(1);
  }
  if (!s.empty() && s[0] == '-') s = "\u2212" + s.substr(1);  // a real minus sign
  return s;
}

Slide::Slide(const FontAtlas& font, uint32_t width, uint32_t height, float reserveRight)
    : font_(font), overlay_(font) {
  scene_.width = width;
  scene_.height = height;
  // Text sizes follow the picture: a 1280-wide window reads at 17/24 px, a slide of 1920
  // and more at 24/34 px.
  bool big = width >= 1800 && height >= 1000;
  scale_ = big ? 1.4f : 1.0f;
  body_ = big ? TextSize::Heading : TextSize::Large;
  title_ = big ? TextSize::Display : TextSize::Heading;
  small_ = big ? TextSize::Large : TextSize::Small;
  float margin = 28 * scale_;
  content_ = {margin, 120 * scale_, std::max(200.0f, width - 2 * margin - reserveRight),
              height - 120 * scale_ - 110 * scale_};
  captionTop_ = height - 100 * scale_;
}

void Slide::text(const std::string& s, float x, float y, TextSize size, uint32_t color, int align) {
  overlay_.text(s, x, y, size, color, align);
}

void Slide::frame(const Rect& r, float w, uint32_t color) {
  overlay_.rect({r.x - w, r.y - w, r.w + 2 * w, w}, color);
  overlay_.rect({r.x - w, r.y + r.h, r.w + 2 * w, w}, color);
  overlay_.rect({r.x - w, r.y, w, r.h}, color);
  overlay_.rect({r.x + r.w, r.y, w, r.h}, color);
}

void Slide::header(const std::string& lesson, size_t step, size_t steps, const std::string& stepTitle) {
  float m = 28 * scale_;
  text(lesson, m, 28 * scale_, title_, kInk);
  if (steps > 0) {
    std::string where = "step " + std::to_string(step + 1) + " of " + std::to_string(steps) + "   \u2190 \u2192";
    text(where, scene_.width - m, 28 * scale_, small_, kSoftInk, 2);
  }
  text(stepTitle, m, 62 * scale_, body_, kAccent);
  overlay_.rect({m, 80 * scale_, scene_.width - 2 * m, std::max(1.0f, scale_)}, kRule);
}

void Slide::formula(const std::vector<FormulaPart>& parts) {
  float total = 0;
  for (const auto& p : parts) total += font_.measure(body_, p.text);
  float x = (scene_.width - total) / 2, y = 102 * scale_;
  for (const auto& p : parts) {
    float w = font_.measure(body_, p.text);
    if (p.on) overlay_.rect({x, y - 14 * scale_, w + 2, 28 * scale_}, rgba(252, 224, 200));
    text(p.text, x, y, body_, p.on ? kAccent : kSoftInk);
    x += w;
  }
}

float Slide::paragraph(const Rect& r, const std::string& s, TextSize size, uint32_t color) {
  float line = font_.lineHeight(size) * 1.15f, y = r.y + line / 2;
  std::string current;
  size_t i = 0;
  auto flush = [&] {
    text(current, r.x, y, size, color);
    y += line;
    current.clear();
  };
  while (i <= s.size()) {
    size_t sp = s.find_first_of(" \n", i);
    if (sp == std::string::npos) sp = s.size();
    std::string word = s.substr(i, sp - i);
    std::string next = current.empty() ? word : current + " " + word;
    if (!current.empty() && font_.measure(size, next) > r.w) {
      flush();
      current = word;
    } else {
      current = next;
    }
    if (sp < s.size() && s[sp] == '\n') flush();
    i = sp + 1;
  }
  if (!current.empty()) flush();
  return y - r.y - line / 2;
}

void Slide::caption(const std::string& s) {
  float m = 28 * scale_;
  overlay_.rect({m, captionTop_ - 10 * scale_, scene_.width - 2 * m, std::max(1.0f, scale_)}, kRule);
  paragraph({m, captionTop_, scene_.width - 2 * m, 90 * scale_}, s, body_, kInk);
}

Rect Slide::matrix(const Rect& r, const MatrixView& m, std::vector<Rect>* rowRects) {
  float labelW = 0;
  for (const auto& l : m.rowLabels) labelW = std::max(labelW, font_.measure(body_, l));
  labelW += 10 * scale_;
  float titleH = 30 * scale_, colLabelH = m.colLabels.empty() ? 0 : 26 * scale_;
  float cell = std::min({(r.w - labelW) / std::max(1u, m.cols), (r.h - titleH - colLabelH) / std::max(1u, m.rows),
                         96 * scale_});
  cell = std::max(cell, 4.0f);
  float gridW = cell * m.cols, gridH = cell * m.rows;
  float x0 = r.x + labelW + std::max(0.0f, (r.w - labelW - gridW) / 2), y0 = r.y + titleH + colLabelH;
  text(m.title, x0 + gridW / 2, r.y + titleH / 2, body_, m.highlight ? kAccent : kInk, 1);
  const Colormaps& cm = Colormaps::get();
  uint32_t viridis = cm.index("viridis");
  double absMax = 0;
  for (double v : m.values)
    if (std::isfinite(v)) absMax = std::max(absMax, std::abs(v));
  bool numbers = cell >= font_.measure(small_, "\u22120.00") + 6;
  for (uint32_t i = 0; i < m.rows; ++i)
    for (uint32_t j = 0; j < m.cols; ++j) {
      double v = m.values[size_t(i) * m.cols + j];
      uint32_t fill = rgba(238, 238, 242), ink = kInk;
      if (std::isinf(v) && v < 0) {
        fill = kMaskedColor;
        ink = kSoftInk;
      } else if (m.color == CellColor::Probability) {
        auto c = cm.color(viridis, uint32_t(std::clamp(v, 0.0, 1.0) * 255 + 0.5));
        fill = rgba(c[0], c[1], c[2]);
        ink = 0.299 * c[0] + 0.587 * c[1] + 0.114 * c[2] > 140 ? kInk : rgba(255, 255, 255);
      } else if (m.color == CellColor::Signed && absMax > 0) {
        // Grey at 0, towards orange for positive and blue for negative values.
        double t = std::min(1.0, std::abs(v) / absMax);
        const double base[3] = {238, 238, 242}, pos[3] = {246, 140, 86}, neg[3] = {96, 160, 212};
        const double* to = v >= 0 ? pos : neg;
        auto mix = [&](int c) { return uint8_t(base[c] + (to[c] - base[c]) * t + 0.5); };
        fill = rgba(mix(0), mix(1), mix(2));
      }
      Rect c{x0 + j * cell, y0 + i * cell, cell, cell};
      overlay_.rect({c.x + 1, c.y + 1, c.w - 2, c.h - 2}, fill);
      // Fixed decimals in a grid: 2.1e-06 shows as 0.00 (the exact value is in the export).
      std::string shown = std::isfinite(v) ? formatNumber(std::round(v * std::pow(10.0, m.decimals)) / std::pow(10.0, m.decimals), m.decimals)
                                           : formatNumber(v, m.decimals);
      if (numbers) text(shown, c.x + c.w / 2, c.y + c.h / 2, cell > 70 * scale_ ? body_ : small_, ink, 1);
    }
  for (uint32_t i = 0; i < m.rowLabels.size() && i < m.rows; ++i)
    text(m.rowLabels[i], x0 - 8 * scale_, y0 + (i + 0.5f) * cell, cell > 24 ? body_ : small_, kInk, 2);
  for (uint32_t j = 0; j < m.colLabels.size() && j < m.cols; ++j) {
    // A label wider than its column gets the small size, then is cut.
    std::string label = m.colLabels[j];
    TextSize size = font_.measure(body_, label) <= cell - 4 ? body_ : small_;
    std::string stem = label;
    while (stem.size() > 1 && font_.measure(size, label) > cell - 2) {
      stem.pop_back();  // one UTF-8 character: continuation bytes, then its lead byte
      while (!stem.empty() && (static_cast<unsigned char>(stem.back()) & 0xc0) == 0x80) stem.pop_back();
      label = stem + ".";
    }
    text(label, x0 + (j + 0.5f) * cell, y0 - colLabelH / 2, size, kSoftInk, 1);
  }
  Rect grid{x0, y0, gridW, gridH};
  if (m.highlight) frame(grid, 3 * scale_, kAccent);
  if (rowRects) {
    rowRects->clear();
    for (uint32_t i = 0; i < m.rows; ++i) rowRects->push_back({x0 - labelW, y0 + i * cell, labelW + gridW, cell});
  }
  return grid;
}

void Slide::bars(const Rect& r, const std::string& title, const std::vector<std::string>& labels,
                 const std::vector<double>& values, int decimals) {
  text(title, r.x + r.w / 2, r.y + 14 * scale_, body_, kInk, 1);
  float labelW = 0;
  for (const auto& l : labels) labelW = std::max(labelW, font_.measure(body_, l));
  labelW += 12 * scale_;
  float valueW = font_.measure(body_, "0.0000") + 12 * scale_;
  float top = r.y + 36 * scale_, rowH = std::min(48 * scale_, (r.h - 36 * scale_) / std::max<size_t>(1, values.size()));
  size_t best = std::max_element(values.begin(), values.end()) - values.begin();
  for (size_t i = 0; i < values.size(); ++i) {
    float y = top + i * rowH;
    text(i < labels.size() ? labels[i] : "", r.x + labelW - 8 * scale_, y + rowH / 2, body_, kInk, 2);
    float w = float(std::clamp(values[i], 0.0, 1.0)) * (r.w - labelW - valueW);
    overlay_.rect({r.x + labelW, y + rowH * 0.15f, std::max(1.0f, w), rowH * 0.7f}, i == best ? kAccent : rgba(90, 120, 200));
    text(formatNumber(values[i], decimals), r.x + labelW + w + 6 * scale_, y + rowH / 2, body_, kSoftInk);
  }
}

Scene Slide::finish() {
  scene_.overlay = overlay_.vertices();
  return std::move(scene_);
}

}  // namespace attnscope::lessons
