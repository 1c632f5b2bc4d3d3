// Row statistics: m_i = max_j s_ij and l_i = sum_j exp(s_ij - m_i) over unmasked keys, for
// a range of query rows, by online softmax over every key chunk. Never stores n^2 values.
// For few rows (a zoomed view) the keys are split into blocks handled by separate
// workgroups and merged, so a handful of rows still keeps every core busy.
#pragma once
#include "compute/block_stats_pass.h"

namespace attnscope {

class RowStatsPass {
 public:
  // maxRows: the most rows one record() call will be given.
  // entropy: also the statistic t that gives each row's entropy (a little slower).
  RowStatsPass(Context& ctx, Kernels& kernels, uint32_t n, uint32_t maxRows, uint32_t dp,
               bool entropy = false);

  // Writes vec2(m_i, l_i) for rows [rowBegin, rowEnd) into stats[i - statsRow0]. Ends with
  // the stats ready for compute reads.
  void record(Recording& rec, const HeadData& head, const AttentionSpec& spec, uint32_t rowBegin,
              uint32_t rowEnd, const Buffer& stats, uint32_t statsRow0);

  uint32_t splits() const { return splits_.count(); }
  uint64_t deviceBytes() const { return splits_.device.memoryBytes() + partials_.memoryBytes(); }

 private:
  Kernels& kernels_;
  uint32_t maxRows_;
  bool entropy_;
  ColumnBlocks splits_;  // key blocks merged into one row statistic
  Buffer partials_;      // [maxRows][splits] when splits > 1
};

}  // namespace attnscope
