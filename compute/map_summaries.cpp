#include "compute/map_summaries.h"

#include <algorithm>
#include <cmath>

#include "compute/map_job.h"

namespace attnscope {

std::vector<double> rowEntropyPrefix(const std::vector<float>& rowStats, uint32_t n) {
  std::vector<double> prefix(size_t(n) + 1, 0.0);
  for (uint32_t i = 0; i < n; ++i) {
    double l = rowStats[size_t(i) * 4 + 1], t = rowStats[size_t(i) * 4 + 2];
    double h = l > 0 ? std::log(l) - t / l : 0.0;
    prefix[i + 1] = prefix[i] + std::max(0.0, h);
  }
  return prefix;
}

namespace {

// The cells a texel covers along one side.
uint64_t span(uint32_t t, uint64_t per, uint32_t n) {
  uint64_t a = uint64_t(t) * per;
  return std::min<uint64_t>(a + per, n) - std::min<uint64_t>(a, n);
}

double meanAt(const SweepTexels& s, uint32_t tx, uint32_t ty) {
  return double(s.texels[(size_t(ty) * s.w + tx) * 4 + kChannelMean]);
}

}  // namespace

std::vector<double> receivedPerKeyBlock(const SweepTexels& s) {
  std::vector<double> out(s.w, 0.0);
  for (uint32_t tx = 0; tx < s.w; ++tx) {
    double cols = double(span(tx, s.per, s.n)), total = 0;
    for (uint32_t ty = 0; ty < s.h; ++ty) total += meanAt(s, tx, ty) * double(span(ty, s.per, s.n)) * cols;
    out[tx] = cols > 0 ? total / cols : 0.0;
  }
  return out;
}

std::vector<float> expectedByDistance(const SweepTexels& s) {
  uint32_t bands = s.w + s.h - 1;
  std::vector<double> sum(bands, 0.0), cells(bands, 0.0);
  for (uint32_t ty = 0; ty < s.h; ++ty)
    for (uint32_t tx = 0; tx < s.w; ++tx) {
      double count = double(span(ty, s.per, s.n)) * double(span(tx, s.per, s.n));
      uint32_t band = tx + (s.h - 1) - ty;
      sum[band] += meanAt(s, tx, ty) * count;
      cells[band] += count;
    }
  std::vector<float> out(bands);
  for (uint32_t b = 0; b < bands; ++b) out[b] = cells[b] > 0 ? float(sum[b] / cells[b]) : 0.0f;
  return out;
}

}  // namespace attnscope
