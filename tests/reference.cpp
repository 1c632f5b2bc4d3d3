#include "tests/reference.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>

namespace attnscope::ref {

Matrix randomMatrix(uint32_t rows, uint32_t cols, double amp, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u(-amp, amp);
  Matrix m{rows, cols, std::vector<float>(size_t(rows) * cols)};
  for (auto& x : m.v) x = float(u(rng));
  return m;
}

bool unmasked(const AttentionSpec& spec, uint64_t i, uint64_t j) {
  int64_t diff = int64_t(i) - int64_t(j);
  int64_t w = spec.window;
  if (i < spec.queryBegin) return false;  // a row that was not captured
  switch (spec.mask) {
    case MaskKind::None: return true;
    case MaskKind::Causal: return j <= i;
    case MaskKind::WindowCausal: return j <= i && diff < w;
    case MaskKind::WindowBoth: return std::llabs(diff) < w;
  }
  return false;
}

double logit(const Matrix& q, const Matrix& k, const AttentionSpec& spec, uint32_t i, uint32_t j) {
  double s = 0;
  for (uint32_t c = 0; c < q.cols; ++c) s += double(q.at(i, c)) * double(k.at(j, c));
  double scale = spec.scale ? *spec.scale : 1.0 / std::sqrt(double(q.cols));
  s *= scale;
  if (spec.softcap) s = *spec.softcap * std::tanh(s / *spec.softcap);  // Gemma-2's soft cap
  return s / spec.temperature;
}

RowStats rowStats(const Matrix& q, const Matrix& k, const AttentionSpec& spec, uint32_t i) {
  double m = -std::numeric_limits<double>::infinity();
  std::vector<double> s(spec.n);
  for (uint32_t j = 0; j < spec.n; ++j)
    if (unmasked(spec, i, j)) m = std::max(m, s[j] = logit(q, k, spec, i, j));
  double l = 0;
  for (uint32_t j = 0; j < spec.n; ++j)
    if (unmasked(spec, i, j)) l += std::exp(s[j] - m);
  return {m, l};
}

std::vector<double> probabilityRow(const Matrix& q, const Matrix& k, const AttentionSpec& spec,
                                   uint32_t i) {
  std::vector<double> s(spec.n, 0.0), p(spec.n, 0.0);
  double m = -std::numeric_limits<double>::infinity();
  for (uint32_t j = 0; j < spec.n; ++j)
    if (unmasked(spec, i, j)) m = std::max(m, s[j] = logit(q, k, spec, i, j));
  double l = 0;
  for (uint32_t j = 0; j < spec.n; ++j)
    if (unmasked(spec, i, j)) l += (p[j] = std::exp(s[j] - m));
  if (l > 0)  // a row with no keys (not captured) is all zeros
    for (auto& x : p) x /= l;
  return p;
}

double rowEntropy(const Matrix& q, const Matrix& k, const AttentionSpec& spec, uint32_t i) {
  double h = 0;
  for (double p : probabilityRow(q, k, spec, i))
    if (p > 0) h -= p * std::log(p);
  return h;
}

std::vector<double> outputRow(const Matrix& q, const Matrix& k, const Matrix& v,
                              const AttentionSpec& spec, uint32_t i) {
  std::vector<double> p = probabilityRow(q, k, spec, i), o(v.cols, 0.0);
  for (uint32_t j = 0; j < spec.n; ++j)
    if (p[j] != 0)
      for (uint32_t c = 0; c < v.cols; ++c) o[c] += p[j] * double(v.at(j, c));
  return o;
}

Aggregate aggregate(const Matrix& q, const Matrix& k, const AttentionSpec& spec,
                    const std::vector<uint32_t>& rb, const std::vector<uint32_t>& cb) {
  size_t th = rb.size() - 1, tw = cb.size() - 1;
  Aggregate a{std::vector<double>(th * tw, 0.0), std::vector<double>(th * tw, 0.0)};
  for (size_t ty = 0; ty < th; ++ty)
    for (uint32_t i = rb[ty]; i < rb[ty + 1]; ++i) {
      std::vector<double> p = probabilityRow(q, k, spec, i);
      for (size_t tx = 0; tx < tw; ++tx)
        for (uint32_t j = cb[tx]; j < cb[tx + 1]; ++j) {
          a.max[ty * tw + tx] = std::max(a.max[ty * tw + tx], p[j]);
          a.mean[ty * tw + tx] += p[j];
        }
    }
  for (size_t ty = 0; ty < th; ++ty)
    for (size_t tx = 0; tx < tw; ++tx)
      a.mean[ty * tw + tx] /= double(rb[ty + 1] - rb[ty]) * double(cb[tx + 1] - cb[tx]);
  return a;
}

double positionalEncoding(uint64_t pos, uint32_t dim, uint32_t dModel) {
  uint32_t k = dim / 2;
  double w = std::pow(10000.0, -2.0 * k / dModel);
  // Reduce pos * w in long double so the reference itself is good to ~1e-12 at pos 1e6.
  long double angle = (long double)pos * (long double)w;
  return dim % 2 == 0 ? double(std::sin(angle)) : double(std::cos(angle));
}

}  // namespace attnscope::ref
