#include "compute/row_stats_pass.h"

#include <algorithm>

#include "compute/gpu_params.h"
#include "compute/kernels.h"
#include "engine/barriers.h"
#include "engine/error.h"

namespace attnscope {

static uint32_t chooseSplits(Kernels& kernels, uint32_t n, uint32_t maxRows, uint32_t dp) {
  const uint32_t minGroups = kernels.minParallelGroups(), minKeysPerSplit = 2048;
  BlockStatsVariant v = kernels.blockStatsVariant(dp, BlockShape::Long, std::max(maxRows, 1u));
  uint32_t rowGroups = groupsFor(std::max(maxRows, 1u), v.workgroup * v.rows);
  uint32_t wanted = (minGroups + rowGroups - 1) / rowGroups;
  // Many rows at once (a whole map's statistics) need few splits for parallelism, but then
  // every workgroup streams all n keys: at 100k tokens K (25 MB at d = 64) leaves the cache
  // between rows, and the pass ran at 24 GFLOP/s against 60 at 16k. Splits of at most
  // keysPerSplit keys (1 MiB at d = 64) stay cached: 100k-token statistics took 15 s instead
  // of 21-28 s on a 2-core AVX-512 host.
  const uint32_t keysPerSplit = 4096;
  wanted = std::max(wanted, n / keysPerSplit);
  return std::clamp(wanted, 1u, std::max(1u, n / minKeysPerSplit));
}

RowStatsPass::RowStatsPass(Context& ctx, Kernels& kernels, uint32_t n, uint32_t maxRows, uint32_t dp,
                           bool entropy)
    : kernels_(kernels), maxRows_(maxRows), entropy_(entropy),
      splits_(makeColumnBlocks(ctx, evenBounds(0, n, chooseSplits(kernels, n, maxRows, dp)))) {
  if (splits_.count() > 1)
    partials_ = Buffer(ctx, uint64_t(maxRows) * splits_.count() * kStatsBytes, VK_BUFFER_USAGE_STORAGE_BUFFER_BIT,
                       MemoryUse::DeviceLocal, "row stats partials");
}

void RowStatsPass::record(Recording& rec, const HeadData& head, const AttentionSpec& spec,
                          uint32_t rowBegin, uint32_t rowEnd, const Buffer& stats,
                          uint32_t statsRow0) {
  if (rowEnd - rowBegin > maxRows_) throw Error("internal: RowStatsPass given more rows than it was made for");
  TimedScope timed(rec, "row_stats");
  uint32_t splits = splits_.count(), rows = rowEnd - rowBegin;
  const Buffer& target = splits > 1 ? partials_ : stats;
  uint64_t offset = splits > 1 ? 0 : uint64_t(rowBegin - statsRow0) * kStatsBytes;
  uint32_t partRow0 = splits > 1 ? rowBegin : statsRow0;
  // Earlier reads of these buffers (a previous strip's passes) finish before the fill.
  barrier::computeToTransferWrite(rec.cmd);
  vkCmdFillBuffer(rec.cmd, target.handle(), offset, uint64_t(rows) * splits * kStatsBytes, 0);
  // The zero fill (the merge's identity) lands before the first merge reads it.
  barrier::transferToCompute(rec.cmd);
  bool first = true;
  for (const KeyChunk& chunk : head.chunks(0, spec.n)) {
    // Each chunk merges into the same partials: read-after-write between chunks.
    if (!first) barrier::computeToCompute(rec.cmd);
    first = false;
    recordBlockStats(rec, kernels_, head, spec, {rowBegin, rowEnd, &splits_, chunk, &target, partRow0, entropy_});
  }
  if (splits > 1) {
    // The split partials are complete before they are merged into row statistics.
    barrier::computeToCompute(rec.cmd);
    gpu::StatsMergeParams p{rows, splits, 0, rowBegin - statsRow0};
    dispatch(rec.ctx, rec.cmd, rec.arena, kernels_.statsMerge(rows, splits),
             {Binding::storage(partials_), Binding::storage(stats)}, p, Groups{kernels_.statsMergeGroups(rows, splits)});
  }
  // The stats are complete before their consumer (tile pass, output pass) reads them.
  barrier::computeToCompute(rec.cmd);
}

}  // namespace attnscope
