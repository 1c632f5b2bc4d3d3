// Row statistics: m_i = max_j s_ij and l_i = sum_j exp(s_ij - m_i) over unmasked keys, for
// a range of query rows, by online softmax over every key chunk. Never stores n^2 values.
#pragma once
#include "compute/block_stats_pass.h"

namespace attnscope {

class RowStatsPass {
 public:
  RowStatsPass(Context& ctx, Kernels& kernels, uint32_t n);

  // Writes vec2(m_i, l_i) for rows [rowBegin, rowEnd) into stats[i - statsRow0]. The stats
  // range is zeroed first (the merge's identity). Ends with the stats ready for compute reads.
  void record(Recording& rec, const HeadData& head, const AttentionSpec& spec, uint32_t rowBegin,
              uint32_t rowEnd, const Buffer& stats, uint32_t statsRow0);

 private:
  Kernels& kernels_;
  ColumnBlocks whole_;  // one block spanning every key
};

}  // namespace attnscope
