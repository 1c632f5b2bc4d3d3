// Attention output O = P V for a range of query rows: O_i = sum_j p_ij v_j.
#pragma once
#include "compute/row_stats_pass.h"

namespace attnscope {

class AttnOutputPass {
 public:
  AttnOutputPass(Context& ctx, Kernels& kernels, uint32_t n, uint32_t maxRows, uint32_t dp);

  // Computes the rows' statistics into `stats` (vec2 per row) and then O into `out`
  // ([rows][dp] floats, row i at i - rowBegin). The head must have V.
  void record(Recording& rec, const HeadData& head, const AttentionSpec& spec, uint32_t rowBegin,
              uint32_t rowEnd, const Buffer& stats, const Buffer& out);

 private:
  Kernels& kernels_;
  RowStatsPass rowStats_;
};

// Convenience for tools and tests: O for rows [rowBegin, rowEnd) as [rows][d], blocking.
std::vector<float> computeAttentionOutput(Context& ctx, Kernels& kernels, const HeadData& head,
                                          const AttentionSpec& spec, uint32_t rowBegin,
                                          uint32_t rowEnd);

}  // namespace attnscope
