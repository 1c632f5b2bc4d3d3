// Helpers the lessons share: numbers as text, matrices side by side, the attention formula.
#include "lessons/lesson_common.h"

#include <random>

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

AttentionSpec specFor(uint32_t n, uint32_t d, MaskKind mask, std::optional<double> scale, double temperature) {
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

}  // namespace attnscope::lessons
