// Records block_stats.comp: per (query row, column block) online-softmax partials for one
// chunk of keys. The building block of the row statistics pass and the tile pass.
#pragma once
#include <cstdint>
#include <vector>

#include "compute/attention_spec.h"
#include "compute/head_data.h"
#include "engine/commands.h"

namespace attnscope {

class Kernels;
struct BlockStatsVariant;

// Column blocks: block b covers keys [bounds[b], bounds[b+1]). Kept on the host too, to find
// which blocks a key chunk touches.
struct ColumnBlocks {
  std::vector<uint32_t> host;  // blockCount + 1 entries
  Buffer device;
  uint32_t count() const { return uint32_t(host.size() - 1); }
};

// Splits [begin, end) into `parts` nearly equal integer ranges (64-bit safe); none is empty
// when parts <= end - begin.
std::vector<uint32_t> evenBounds(uint64_t begin, uint64_t end, uint32_t parts);
// Every block must hold at least one key (bounds strictly increasing): throws otherwise.
ColumnBlocks makeColumnBlocks(Context& ctx, std::vector<uint32_t> bounds);

struct BlockStatsArgs {
  uint32_t rowBegin = 0, rowEnd = 0;  // query rows
  const ColumnBlocks* blocks = nullptr;
  KeyChunk chunk{};                   // the keys this dispatch sees
  const Buffer* partials = nullptr;   // vec2 [rows][blockCount], merged into
  uint32_t partRow0 = 0;              // partial row of query i is i - partRow0
  bool entropy = false;               // also accumulate t for the row entropy
  const BlockStatsVariant* variant = nullptr;  // the kernels' choice for d unless given (tuning)
  bool overwrite = false;             // write the partials instead of merging into them (this
                                      // dispatch covers every block the partials hold)
};

void recordBlockStats(Recording& rec, Kernels& kernels, const HeadData& head,
                      const AttentionSpec& spec, const BlockStatsArgs& args);

// The block_stats variants this device may use for d (each block shape, stepped down for few
// rows), and one tiny dispatch of one of them, submitting and waiting. lavapipe makes a
// pipeline's machine code at its first dispatch (100-300 ms each): a viewer runs each before
// its first frame (warmUpViewerKernels), so that no frame pays for it.
std::vector<BlockStatsVariant> warmUpVariants(const Kernels& kernels, uint32_t dp);
void warmUpBlockStatsVariant(Context& ctx, Kernels& kernels, const HeadData& head, const AttentionSpec& spec,
                             const BlockStatsVariant& v, bool entropy);

}  // namespace attnscope
