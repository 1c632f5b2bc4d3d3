// Every compute pipeline the attention passes use, built on first use and cached by its
// variant key, so nothing is compiled twice and no variant nobody uses is built.
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "engine/compute_pipeline.h"
#include "engine/shader_compiler.h"

namespace attnscope {

class Context;

// One way to run block_stats.comp. Which is fastest differs by device (lavapipe on AVX2 and
// on AVX-512 hosts, GPUs), so the tuner times the candidates and keeps the winner.
struct BlockStatsVariant {
  uint32_t rows = 4;       // query rows per invocation: more reuse each key load, more registers
  uint32_t workgroup = 64;
  bool shuffle = true;     // keys shared by subgroupShuffle; false: through shared memory
  // > 1: chunked softmax over this many keys; 1: per-key update with one exp2 and selects;
  // 0: per-key update with an exp on each side of a branch (today's default)
  uint32_t chunk = 0;
  // Keys read through a texel buffer (texelFetch) instead of a storage buffer: on lavapipe a
  // vector gather instead of a loop over the lanes with a branch each.
  bool texel = false;

  // "r4.wg64.shuffle.c0", "r8.wg64.shuffle.c1.tb": how tune, bench and ATTNSCOPE_KERNEL name it.
  std::string name() const;
  // Throws Error naming the form when `text` is not one.
  static BlockStatsVariant parse(const std::string& text);
  bool operator==(const BlockStatsVariant&) const = default;
};

// What a block_stats dispatch looks like, by keys per column block: the best variant differs
// (a 1:1 view has one key per block, so per-block overhead dominates; the row statistics have
// one block of every key, so the inner loop does). Narrow is a 16k-64k overview at 1024
// texels: on lavapipe 4 rows per invocation beat 8 there by 15-25 %, while 8 won at ~100 keys.
enum class BlockShape { Long, Medium, Narrow, Short };  // >= 256 keys per block, >= 64, >= 16, fewer
constexpr int kBlockShapes = 4;
BlockShape blockShapeFor(double keysPerBlock);
const char* blockShapeName(BlockShape shape);  // "long", "medium", "narrow", "short"

class Kernels {
 public:
  Kernels(Context& ctx, ShaderCompiler& compiler);

  // block_stats.comp in variant v for a padded head dimension dp; `softcap` builds the
  // soft-capped variant.
  const ComputePipeline& blockStats(uint32_t dp, const BlockStatsVariant& v, bool entropy = false,
                                    bool softcap = false);
  // Builds the pipelines of these (variant, with entropy) pairs at once (a thread per core, up
  // to 4), so that blockStats() finds them made. A variant that fails to build is left for
  // blockStats() to report. `progress` (0-1) is called from this thread.
  void prepareBlockStats(uint32_t dp, const std::vector<std::pair<BlockStatsVariant, bool>>& wanted,
                         const std::function<void(double)>& progress = {});
  // The variant used for dp and a shape: ATTNSCOPE_KERNEL's (adapted where it cannot run),
  // else the one chosen (tuned), else the untuned default.
  BlockStatsVariant blockStatsVariant(uint32_t dp, BlockShape shape = BlockShape::Long) const;
  // The same for a dispatch of `rows` query rows: a tuned variant whose workgroup covers more
  // rows than there are (16 rows x 64 lanes for 256 rows of a tile) steps down to fewer rows
  // per invocation, so that lanes are not left idle. A forced variant steps down only where
  // its group covers over 4x the rows, so that tests still run it at their sizes.
  BlockStatsVariant blockStatsVariant(uint32_t dp, BlockShape shape, uint32_t rows) const;
  void chooseBlockStats(uint32_t dp, BlockShape shape, const BlockStatsVariant& v) { chosen_[{dp, shape}] = v; }
  bool hasChoice(uint32_t dp) const { return forced_.has_value() || chosen_.count({dp, BlockShape::Long}) != 0; }
  // Today's fixed choice: 4, 2 or 1 rows by dp, shuffle where the device has it, per-key update.
  BlockStatsVariant defaultBlockStats(uint32_t dp) const;
  // The variants the tuner times on this device for dp (the default first where it is one).
  std::vector<BlockStatsVariant> blockStatsCandidates(uint32_t dp) const;
  // Every variant that may run for dp: the default, the candidates, and where a head may
  // lack texel views (headsMayLackTexelViews) the storage-buffer twin of each texel
  // candidate, which such a head runs. The tests run each.
  std::vector<BlockStatsVariant> blockStatsRunnable(uint32_t dp) const;
  // Whether some head's K chunk may be too long or misaligned for a texel view on this
  // device (then it reads keys from the storage buffer). Not on lavapipe: 134 M texels
  // cover its 128 MiB storage range.
  bool headsMayLackTexelViews() const;
  // Throws Error when this device cannot run `v` for dp (saying why).
  void checkRunnable(const BlockStatsVariant& v, uint32_t dp) const;
  bool forcedByEnvironment() const { return forced_.has_value(); }
  // What ATTNSCOPE_KERNEL does, from code (tests run every candidate; nullopt undoes it).
  void forceBlockStats(std::optional<BlockStatsVariant> v) { forced_ = v; }
  bool usesShuffle() const { return shuffle_; }
  // The pipelines built so far, by key ("stats_merge/8", "block_stats/16/r4.wg64.shuffle.c0"):
  // a test sees a frame build none after the warm-ups.
  std::vector<std::string> pipelinesBuilt() const {
    std::vector<std::string> keys;
    for (const auto& [key, pipeline] : cache_) keys.push_back(key);
    return keys;
  }
  // Workgroups a dispatch should offer to keep the device busy: a CPU device (lavapipe) has
  // a handful of threads, a GPU dozens of multiprocessors each wanting several groups.
  uint32_t minParallelGroups() const;
  // Keys a block_stats workgroup should walk with its query rows loaded once, even at the
  // cost of fewer groups than minParallelGroups(): lavapipe loads each lane's rows one lane
  // at a time, so a group that scores only ~100 keys spends a third of its time loading. A
  // GPU loads rows in one coalesced access and wants the groups instead (0: no floor).
  double minKeysPerGroup() const;
  // Work one recorded strip should hold: ~0.1 s on lavapipe, a few ms on a GPU.
  double flopsPerStrip() const;

  // stats_merge.comp for `rows` rows of `blocks` partials each (few rows of many blocks: several
  // lanes per row).
  const ComputePipeline& statsMerge(uint32_t rows, uint32_t blocks);
  uint32_t statsMergeLanes(uint32_t rows, uint32_t blocks) const;
  // Workgroups of stats_merge for `rows` rows of `blocks` partials.
  uint32_t statsMergeGroups(uint32_t rows, uint32_t blocks) const;
  const ComputePipeline& tileReduce();
  const ComputePipeline& attnOutput(uint32_t dp, bool softcap = false);
  const ComputePipeline& embed();
  // Y = X W + b; texelWeights: W bound as an RGBA32F texel buffer (dModel * dp / 4 texels
  // must fit maxTexelBufferElements), else as a storage buffer.
  const ComputePipeline& project(uint32_t dp, bool texelWeights);
  const ComputePipeline& fmaPeak();
  const ComputePipeline& rope();

  Context& context() { return ctx_; }
  ShaderCompiler& compiler() { return compiler_; }

 private:
  const ComputePipeline& get(const std::string& key, const ComputePipelineDesc& desc);
  Context& ctx_;
  ShaderCompiler& compiler_;
  bool shuffle_;
  uint32_t workgroup_ = 64;  // every other kernel's
  std::optional<BlockStatsVariant> forced_;  // ATTNSCOPE_KERNEL
  std::map<std::pair<uint32_t, BlockShape>, BlockStatsVariant> chosen_;
  std::map<std::string, std::unique_ptr<ComputePipeline>> cache_;
};

}  // namespace attnscope
