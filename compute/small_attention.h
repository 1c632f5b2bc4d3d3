// Every quantity of softmax(QKᵀ · scale / T) · V for a small head, computed by the same GPU
// passes that draw the 100k-token maps (a MapJob at one cell per texel, AttnOutputPass):
// what the lessons show, number by number. Blocking; for n up to a few thousand.
#pragma once
#include <cstdint>
#include <vector>

#include "compute/attention_spec.h"
#include "compute/kernels.h"

namespace attnscope {

struct SmallAttention {
  uint32_t n = 0, d = 0;
  std::vector<float> logits;  // [n][n], the logits the softmax sees (scale, cap, / T); masked cells are -infinity
  std::vector<float> probs;   // [n][n], masked cells 0
  std::vector<float> out;     // [n][d] when V was given
  float logit(uint32_t i, uint32_t j) const { return logits[size_t(i) * n + j]; }
  float p(uint32_t i, uint32_t j) const { return probs[size_t(i) * n + j]; }
};

// q, k (and v, may be empty) are row-major [n][d].
SmallAttention computeSmallAttention(Context& ctx, Kernels& kernels, const AttentionSpec& spec,
                                     const std::vector<float>& q, const std::vector<float>& k,
                                     const std::vector<float>& v = {});

}  // namespace attnscope
