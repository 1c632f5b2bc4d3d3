#include "compute/row_stats_pass.h"

#include "compute/kernels.h"
#include "engine/barriers.h"

namespace attnscope {

RowStatsPass::RowStatsPass(Context& ctx, Kernels& kernels, uint32_t n)
    : kernels_(kernels), whole_(makeColumnBlocks(ctx, {0u, n})) {}

void RowStatsPass::record(Recording& rec, const HeadData& head, const AttentionSpec& spec,
                          uint32_t rowBegin, uint32_t rowEnd, const Buffer& stats,
                          uint32_t statsRow0) {
  TimedScope timed(rec, "row_stats");
  // Earlier reads of the stats (a previous strip's tile pass) finish before the fill.
  barrier::computeToTransferWrite(rec.cmd);
  vkCmdFillBuffer(rec.cmd, stats.handle(), uint64_t(rowBegin - statsRow0) * 8,
                  uint64_t(rowEnd - rowBegin) * 8, 0);
  // The zero fill lands before the first merge reads it.
  barrier::transferToCompute(rec.cmd);
  bool first = true;
  for (const KeyChunk& chunk : head.chunks(0, spec.n)) {
    // Each chunk merges into the same stats: read-after-write between chunks.
    if (!first) barrier::computeToCompute(rec.cmd);
    first = false;
    recordBlockStats(rec, kernels_, head, spec,
                     {rowBegin, rowEnd, &whole_, chunk, &stats, statsRow0});
  }
  // The stats are complete before their consumer (tile pass, output pass) reads them.
  barrier::computeToCompute(rec.cmd);
}

}  // namespace attnscope
