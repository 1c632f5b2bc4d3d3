// What the viewer's strips and its observed / expected view show, computed from the
// whole-map sweep: every row's entropy (exact, from its softmax statistics), the attention
// each block of keys receives from all queries, and the expected p by distance from the
// diagonal. Pure functions of the sweep's texels and row statistics, so a test can hold them
// against the double reference.
#pragma once
#include <cstdint>
#include <vector>

namespace attnscope {

// Running sums of the rows' entropies: prefix[i] is the sum over rows < i, so a span of rows
// averages as (prefix[b] - prefix[a]) / (b - a). rowStats holds vec4(m, l, t, 0) per row (the
// sweep's statistics with t): entropy = log l - t / l; a row with no keys counts 0.
std::vector<double> rowEntropyPrefix(const std::vector<float>& rowStats, uint32_t n);

// The sweep's texels (RGBA32F, w x h, texel (x, y) covering cells [y per, (y+1) per) x
// [x per, (x+1) per) clipped to n) as what the map says per block of keys and per band.
struct SweepTexels {
  const std::vector<float>& texels;
  uint32_t w, h;
  uint64_t per;  // cells per texel side
  uint32_t n;
};

// For each block of keys (texel column): the attention it receives from all queries,
// sum_i sum_{j in block} p_ij, divided by the block's width (so 1 per key is uniform).
std::vector<double> receivedPerKeyBlock(const SweepTexels& s);

// Expected p by distance from the diagonal: for each diagonal band of texels (band
// tx - ty + w - 1), the mean p over every cell of the band (masked cells count as 0).
std::vector<float> expectedByDistance(const SweepTexels& s);

}  // namespace attnscope
