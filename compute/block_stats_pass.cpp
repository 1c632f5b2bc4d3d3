#include "compute/block_stats_pass.h"

#include <algorithm>

#include "compute/gpu_params.h"
#include "compute/kernels.h"
#include "engine/barriers.h"
#include "engine/context.h"
#include "engine/error.h"

namespace attnscope {

std::vector<uint32_t> evenBounds(uint64_t begin, uint64_t end, uint32_t parts) {
  std::vector<uint32_t> b(parts + 1);
  uint64_t span = end - begin;
  for (uint32_t i = 0; i <= parts; ++i) b[i] = uint32_t(begin + span * i / parts);
  return b;
}

ColumnBlocks makeColumnBlocks(Context& ctx, std::vector<uint32_t> bounds) {
  // block_stats.comp walks each block's keys with a do-while (a for costs lavapipe a masked
  // pass more), so a block without keys would read one that is not its own.
  if (bounds.size() < 2) throw Error("internal: column blocks need at least one block");
  for (size_t b = 0; b + 1 < bounds.size(); ++b)
    if (bounds[b] >= bounds[b + 1])
      throw Error("internal: column block " + std::to_string(b) + " is empty (keys " + std::to_string(bounds[b]) + " to " +
                  std::to_string(bounds[b + 1]) + ")");
  ColumnBlocks cb;
  cb.host = std::move(bounds);
  // Host-visible: a few KB written once, so creating a job (in the viewer, on the frame
  // path) is a memcpy, never a staging copy that submits and waits.
  cb.device = Buffer(ctx, cb.host.size() * 4, VK_BUFFER_USAGE_STORAGE_BUFFER_BIT,
                     MemoryUse::Upload, "column blocks");
  cb.device.upload(cb.host.data(), cb.host.size() * 4);
  return cb;
}

namespace {

// Blocks per workgroup: enough keys that loading the query rows once pays off, but enough
// workgroups to keep every core (or SM) busy. On a CPU device a workgroup walks at least
// Kernels::minKeysPerGroup() keys even when that leaves fewer groups than wanted: the
// viewer's sweep pieces (one group of rows over ~1000 keys) used to give each group one
// block of ~100 keys, and loading its rows cost a third of the work.
uint32_t blocksPerGroup(Kernels& kernels, uint32_t rowGroups, uint32_t blocks, double keysPerBlock) {
  uint32_t perGroup = uint32_t(std::clamp(2048.0 / keysPerBlock, 1.0, double(blocks)));
  const uint32_t minGroups = kernels.minParallelGroups();
  const double minKeys = kernels.minKeysPerGroup();
  while (perGroup > 1 && perGroup * keysPerBlock > minKeys && uint64_t(rowGroups) * groupsFor(blocks, perGroup) < minGroups)
    perGroup = (perGroup + 1) / 2;
  return perGroup;
}

}  // namespace

void recordBlockStats(Recording& rec, Kernels& kernels, const HeadData& head,
                      const AttentionSpec& spec, const BlockStatsArgs& a) {
  if (a.rowEnd <= a.rowBegin || a.chunk.end <= a.chunk.begin) return;
  const auto& bounds = a.blocks->host;
  // Blocks that overlap the chunk: bounds are sorted, so two binary searches.
  uint32_t first = uint32_t(std::upper_bound(bounds.begin(), bounds.end(), a.chunk.begin) - bounds.begin());
  first = first > 0 ? first - 1 : 0;
  uint32_t last = uint32_t(std::lower_bound(bounds.begin(), bounds.end(), a.chunk.end) - bounds.begin());
  last = std::min(last, a.blocks->count());  // one past the last overlapping block
  if (last <= first) return;

  uint32_t dp = head.dp();
  BufferWindow qw = makeWindow(rec.ctx, head.q(), uint64_t(a.rowBegin) * dp * 4, uint64_t(a.rowEnd) * dp * 4);
  BufferWindow kw = makeWindow(rec.ctx, head.k(), uint64_t(a.chunk.begin) * dp * 4, uint64_t(a.chunk.end) * dp * 4);

  gpu::BlockStatsParams p{};
  p.rowBegin = a.rowBegin;
  p.rowCount = a.rowEnd - a.rowBegin;
  p.qSkip = qw.elementSkip;
  p.kCol0 = a.chunk.begin;
  p.kSkip = kw.elementSkip;
  p.colBegin = a.chunk.begin;
  p.colEnd = a.chunk.end;
  p.blockFirst = first;
  p.blockCount = a.blocks->count();
  p.partRow0 = a.partRow0;
  p.accumulate = a.overwrite ? 0 : 1;  // else the partials start as zeros, the identity of the merge
  p.maskKind = uint32_t(spec.mask);
  p.window = spec.window;
  p.n = spec.n;
  p.logitScale = float(spec.logitScale());
  p.blockEnd = last;
  p.queryBegin = spec.queryBegin;
  p.softcap = float(spec.softcap.value_or(0.0));
  p.capScale = float(1.0 / spec.temperature);

  uint32_t blocks = last - first;
  uint64_t keys = std::min<uint64_t>(a.chunk.end, bounds[last]) - std::max<uint64_t>(a.chunk.begin, bounds[first]);
  double keysPerBlock = std::max(1.0, double(keys) / blocks);
  BlockStatsVariant v = a.variant ? *a.variant : kernels.blockStatsVariant(dp, blockShapeFor(keysPerBlock), p.rowCount);
  // A texel-buffer variant reads K through the view of the head's chunk that holds these
  // keys, indexed from the view's first key; where the device has no such view, the same
  // variant over the storage buffer.
  uint32_t viewFirstKey = 0;
  VkBufferView keyView = v.texel ? head.keyTexels(a.chunk.begin, viewFirstKey) : VK_NULL_HANDLE;
  if (keyView && a.chunk.end - viewFirstKey > head.keysPerChunk())
    throw Error("internal: a block_stats chunk spans two chunks of K");
  if (!keyView) v.texel = false;
  if (v.texel) {
    p.kCol0 = viewFirstKey;
    p.kSkip = 0;
  }
  uint32_t rowGroups = groupsFor(p.rowCount, v.workgroup * v.rows);
  uint32_t perGroup = blocksPerGroup(kernels, rowGroups, blocks, keysPerBlock);
  p.blocksPerGroup = perGroup;

  const ComputePipeline& pipe = kernels.blockStats(dp, v, a.entropy, spec.softcap.has_value());
  TimedScope timed(rec, "block_stats");
  dispatch(rec.ctx, rec.cmd, rec.arena, pipe,
           {Binding::storage(qw), v.texel ? Binding::texels(keyView) : Binding::storage(kw), Binding::storage(a.blocks->device),
            Binding::storage(*a.partials)},
           p, Groups{rowGroups, groupsFor(blocks, perGroup)});  // x: rows of the workgroup, y: its blocks
}

std::vector<BlockStatsVariant> warmUpVariants(const Kernels& kernels, uint32_t dp) {
  std::vector<BlockStatsVariant> variants;
  // Dispatches of any row count: a strip of a whole tile, a last short strip, a probe row.
  for (int s = 0; s < kBlockShapes; ++s)
    for (uint32_t rows : {1u << 20, 512u, 256u, 128u, 64u, 1u}) {
      BlockStatsVariant v = kernels.blockStatsVariant(dp, BlockShape(s), rows);
      if (std::find(variants.begin(), variants.end(), v) == variants.end()) variants.push_back(v);
    }
  return variants;
}

void warmUpBlockStatsVariant(Context& ctx, Kernels& kernels, const HeadData& head, const AttentionSpec& spec,
                             const BlockStatsVariant& v, bool entropy) {
  // One row against the first keys, into a scratch partial: only the compile matters.
  uint32_t keys = std::min(head.n(), 64u);
  ColumnBlocks blocks = makeColumnBlocks(ctx, evenBounds(0, keys, 1));
  Buffer partials(ctx, kStatsBytes, VK_BUFFER_USAGE_STORAGE_BUFFER_BIT, MemoryUse::DeviceLocal, "warm-up partials");
  CommandStream stream(ctx, false);
  Recording rec = stream.begin();
  BlockStatsArgs a{0, 1, &blocks, KeyChunk{0, keys}, &partials, 0, entropy, &v};
  a.overwrite = true;
  recordBlockStats(rec, kernels, head, spec, a);
  stream.submitAndWait();
}

}  // namespace attnscope
