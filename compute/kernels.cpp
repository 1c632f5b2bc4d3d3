#include "compute/kernels.h"

#include "compute/gpu_params.h"
#include "engine/context.h"

namespace attnscope {

Kernels::Kernels(Context& ctx, ShaderCompiler& compiler) : ctx_(ctx), compiler_(compiler) {
  // The shuffle path needs whole subgroups inside a workgroup of 64.
  uint32_t sg = ctx.caps().subgroupSize;
  shuffle_ = ctx.caps().subgroupShuffle && sg >= 1 && sg <= workgroup_ && workgroup_ % sg == 0;
}

const ComputePipeline& Kernels::get(const std::string& key, const ComputePipelineDesc& desc) {
  auto it = cache_.find(key);
  if (it != cache_.end()) return *it->second;
  auto p = std::make_unique<ComputePipeline>(ctx_, compiler_, desc);
  return *cache_.emplace(key, std::move(p)).first->second;
}

uint32_t Kernels::minParallelGroups() const {
  return ctx_.caps().type == VK_PHYSICAL_DEVICE_TYPE_CPU ? 256 : 1024;
}

double Kernels::flopsPerStrip() const {
  return ctx_.caps().type == VK_PHYSICAL_DEVICE_TYPE_CPU ? 4e9 : 2e11;
}

uint32_t Kernels::blockStatsRowsPerGroup(uint32_t dp) const {
  return workgroup_ * rowsPerInvocation(dp);
}

const ComputePipeline& Kernels::blockStats(uint32_t dp, bool entropy, bool softcap) {
  uint32_t d4 = dp / 4, rows = rowsPerInvocation(dp);
  std::string key = "block_stats/" + std::to_string(d4) + "/" + std::to_string(rows) +
                    (shuffle_ ? "/shuffle" : "/shared") + (entropy ? "/entropy" : "") + (softcap ? "/softcap" : "");
  uint32_t kt = std::max(1u, 1024u / d4);  // 16 KiB of keys per shared tile
  return get(key, {"block_stats.comp",
                   {{"D4", std::to_string(d4)},
                    {"ROWS", std::to_string(rows)},
                    {"USE_SHUFFLE", shuffle_ ? "1" : "0"},
                    {"TRACK_ENTROPY", entropy ? "1" : "0"},
                    {"SOFTCAP", softcap ? "1" : "0"}},
                   sizeof(gpu::BlockStatsParams),
                   {{SPEC_LOCAL_SIZE_X, workgroup_}, {SPEC_KEYS_PER_TILE, kt}},
                   key});
}

const ComputePipeline& Kernels::statsMerge() {
  return get("stats_merge", {"stats_merge.comp", {}, sizeof(gpu::StatsMergeParams), {}, "stats_merge"});
}

const ComputePipeline& Kernels::tileReduce() {
  return get("tile_reduce", {"tile_reduce.comp", {}, sizeof(gpu::TileReduceParams), {}, "tile_reduce"});
}

const ComputePipeline& Kernels::attnOutput(uint32_t dp, bool softcap) {
  std::string key = "attn_output/" + std::to_string(dp / 4) + (softcap ? "/softcap" : "");
  return get(key, {"attn_output.comp",
                   {{"D4", std::to_string(dp / 4)}, {"SOFTCAP", softcap ? "1" : "0"}},
                   sizeof(gpu::AttnOutputParams),
                   {},
                   key});
}

const ComputePipeline& Kernels::embed() {
  return get("embed", {"embed.comp", {}, sizeof(gpu::EmbedParams), {}, "embed"});
}

const ComputePipeline& Kernels::project(uint32_t dp) {
  std::string key = "project/" + std::to_string(dp / 4);
  return get(key, {"project.comp", {{"D4", std::to_string(dp / 4)}}, sizeof(gpu::ProjectParams), {}, key});
}

const ComputePipeline& Kernels::rope() {
  return get("rope", {"rope.comp", {}, sizeof(gpu::RopeParams), {}, "rope"});
}

const ComputePipeline& Kernels::fmaPeak() {
  return get("fma_peak", {"fma_peak.comp", {}, sizeof(gpu::FmaPeakParams), {}, "fma_peak"});
}

}  // namespace attnscope
