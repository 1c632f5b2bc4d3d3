// The independent CPU reference: attention computed directly from its definition in double
// precision, with none of the GPU's tricks (no online softmax, no blocks, no fixed-point
// angles). Every GPU number in the tests is checked against these.
#pragma once
#include <cstdint>
#include <vector>

#include "compute/attention_spec.h"

namespace attnscope::ref {

struct Matrix {
  uint32_t rows = 0, cols = 0;
  std::vector<float> v;
  float at(uint32_t r, uint32_t c) const { return v[size_t(r) * cols + c]; }
};

// Random matrix with entries uniform in [-amp, amp), from a seed (std::mt19937_64).
Matrix randomMatrix(uint32_t rows, uint32_t cols, double amp, uint64_t seed);

bool unmasked(const AttentionSpec& spec, uint64_t i, uint64_t j);
double logit(const Matrix& q, const Matrix& k, const AttentionSpec& spec, uint32_t i, uint32_t j);

struct RowStats {
  double max, sum;  // max logit, sum exp(logit - max) over unmasked keys
};
RowStats rowStats(const Matrix& q, const Matrix& k, const AttentionSpec& spec, uint32_t i);

// Entropy of row i's attention, -sum_j p_ij log p_ij (natural log).
double rowEntropy(const Matrix& q, const Matrix& k, const AttentionSpec& spec, uint32_t i);

// p_ij for the whole row i (masked cells are exactly 0).
std::vector<double> probabilityRow(const Matrix& q, const Matrix& k, const AttentionSpec& spec,
                                   uint32_t i);

// O_i = sum_j p_ij v_j.
std::vector<double> outputRow(const Matrix& q, const Matrix& k, const Matrix& v,
                              const AttentionSpec& spec, uint32_t i);

// Max and mean of p over each texel given row and column bounds (as the tile pass defines
// them), [texRows][texCols].
struct Aggregate {
  std::vector<double> max, mean;
};
Aggregate aggregate(const Matrix& q, const Matrix& k, const AttentionSpec& spec,
                    const std::vector<uint32_t>& rowBounds, const std::vector<uint32_t>& colBounds);

// Sinusoidal positional encoding in double: sin/cos(pos * 10000^(-2k/dModel)).
double positionalEncoding(uint64_t pos, uint32_t dim, uint32_t dModel);

}  // namespace attnscope::ref
