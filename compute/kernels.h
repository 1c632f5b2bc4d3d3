// Every compute pipeline the attention passes use, built on first use and cached by its
// variant key, so nothing is compiled twice and no variant nobody uses is built.
#pragma once
#include <map>
#include <memory>
#include <string>

#include "engine/compute_pipeline.h"
#include "engine/shader_compiler.h"

namespace attnscope {

class Context;

class Kernels {
 public:
  Kernels(Context& ctx, ShaderCompiler& compiler);

  // block_stats.comp for a padded head dimension dp; `softcap` builds the soft-capped variant.
  const ComputePipeline& blockStats(uint32_t dp, bool entropy = false, bool softcap = false);
  // Query rows one block_stats workgroup covers (workgroup size x rows per invocation).
  uint32_t blockStatsRowsPerGroup(uint32_t dp) const;
  bool usesShuffle() const { return shuffle_; }
  // Workgroups a dispatch should offer to keep the device busy: a CPU device (lavapipe) has
  // a handful of threads, a GPU dozens of multiprocessors each wanting several groups.
  uint32_t minParallelGroups() const;
  // Work one recorded strip should hold: ~0.1 s on lavapipe, a few ms on a GPU.
  double flopsPerStrip() const;

  const ComputePipeline& statsMerge();
  const ComputePipeline& tileReduce();
  const ComputePipeline& attnOutput(uint32_t dp, bool softcap = false);
  const ComputePipeline& embed();
  const ComputePipeline& project(uint32_t dp);
  const ComputePipeline& fmaPeak();
  const ComputePipeline& rope();

  Context& context() { return ctx_; }
  ShaderCompiler& compiler() { return compiler_; }

 private:
  const ComputePipeline& get(const std::string& key, const ComputePipelineDesc& desc);
  static uint32_t rowsPerInvocation(uint32_t dp) { return dp <= 64 ? 4 : dp <= 128 ? 2 : 1; }
  Context& ctx_;
  ShaderCompiler& compiler_;
  bool shuffle_;
  uint32_t workgroup_ = 64;
  std::map<std::string, std::unique_ptr<ComputePipeline>> cache_;
};

}  // namespace attnscope
