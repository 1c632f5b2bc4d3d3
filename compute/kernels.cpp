#include "compute/kernels.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <cstdio>
#include <cstdlib>
#include <thread>

#include "compute/gpu_params.h"
#include "engine/context.h"
#include "engine/error.h"

namespace attnscope {

std::string BlockStatsVariant::name() const {
  return "r" + std::to_string(rows) + ".wg" + std::to_string(workgroup) + (shuffle ? ".shuffle" : ".shared") + ".c" +
         std::to_string(chunk) + (texel ? ".tb" : "");
}

BlockStatsVariant BlockStatsVariant::parse(const std::string& text) {
  BlockStatsVariant v;
  char kind[16] = {};
  unsigned rows = 0, wg = 0, chunk = 0;
  int used = 0;
  bool sized = std::sscanf(text.c_str(), "r%u.wg%u.%15[a-z].c%u%n", &rows, &wg, kind, &chunk, &used) == 4;
  std::string rest = sized ? text.substr(size_t(used)) : "";
  if (!sized || (rest != "" && rest != ".tb") || (std::string(kind) != "shuffle" && std::string(kind) != "shared"))
    throw Error("'" + text + "' is not a block_stats variant: write rROWS.wgSIZE.shuffle|shared.cCHUNK[.tb], e.g. "
                "r4.wg64.shuffle.c0 ('attnscope tune --list' shows this device's)");
  v.texel = rest == ".tb";
  v.rows = rows;
  v.workgroup = wg;
  v.shuffle = std::string(kind) == "shuffle";
  v.chunk = chunk;
  return v;
}

Kernels::Kernels(Context& ctx, ShaderCompiler& compiler) : ctx_(ctx), compiler_(compiler) {
  // The shuffle path needs whole subgroups inside a workgroup of 64.
  uint32_t sg = ctx.caps().subgroupSize;
  shuffle_ = ctx.caps().subgroupShuffle && sg >= 1 && sg <= workgroup_ && workgroup_ % sg == 0;
  // ATTNSCOPE_KERNEL=block_stats=VARIANT runs that variant everywhere (the tests run every
  // candidate this way); it is checked against the device when a head dimension asks for it.
  if (const char* env = std::getenv("ATTNSCOPE_KERNEL"); env && *env) {
    std::string s = env;
    const std::string prefix = "block_stats=";
    if (s.rfind(prefix, 0) != 0)
      throw Error("ATTNSCOPE_KERNEL='" + s + "': write block_stats=VARIANT, e.g. block_stats=r4.wg64.shuffle.c0");
    forced_ = BlockStatsVariant::parse(s.substr(prefix.size()));
  }
}

BlockStatsVariant Kernels::defaultBlockStats(uint32_t dp) const {
  BlockStatsVariant v;
  v.rows = dp <= 64 ? 4 : dp <= 128 ? 2 : 1;
  v.workgroup = workgroup_;
  v.shuffle = shuffle_;
  v.chunk = 0;
  return v;
}

void Kernels::checkRunnable(const BlockStatsVariant& v, uint32_t dp) const {
  const DeviceCaps& caps = ctx_.caps();
  auto refuse = [&](const std::string& why) {
    throw Error("block_stats variant " + v.name() + " cannot run on " + caps.name + " at d = " + std::to_string(dp) +
                ": " + why);
  };
  if (v.rows == 0 || v.rows > 16) refuse("rows per invocation must be 1 to 16");
  if (uint64_t(v.rows) * dp > 1024) refuse("rows x d over 1024 floats of query per invocation");
  if (v.workgroup == 0 || v.workgroup > caps.limits.maxComputeWorkGroupInvocations ||
      v.workgroup > caps.limits.maxComputeWorkGroupSize[0])
    refuse("the workgroup size is over the device's limit");
  uint32_t sg = caps.subgroupSize;
  if (v.shuffle && !(caps.subgroupShuffle && sg >= 1 && sg <= v.workgroup && v.workgroup % sg == 0))
    refuse("no subgroup shuffle over whole subgroups in this workgroup");
  uint32_t keysPerStep = v.shuffle ? sg : std::max(1u, 1024u / (dp / 4));
  if (v.chunk > keysPerStep) refuse("a chunk longer than the " + std::to_string(keysPerStep) + " keys of one step");
  // The shared-memory path loads its key tiles cooperatively, lane by lane through
  // consecutive elements: texels were neither measured nor tested there, so they go only
  // with shuffles.
  if (v.texel && !v.shuffle) refuse("keys through texels need the shuffle path");
}

BlockShape blockShapeFor(double keysPerBlock) {
  return keysPerBlock >= 256  ? BlockShape::Long
         : keysPerBlock >= 64 ? BlockShape::Medium
         : keysPerBlock >= 16 ? BlockShape::Narrow
                              : BlockShape::Short;
}

const char* blockShapeName(BlockShape shape) {
  static const char* names[kBlockShapes] = {"long", "medium", "narrow", "short"};
  return names[int(shape)];
}

BlockStatsVariant Kernels::blockStatsVariant(uint32_t dp, BlockShape shape) const {
  if (forced_) {
    // Where this device or d cannot run it: the nearest that runs (fewer rows for a large d,
    // shared memory without shuffles, a chunk no longer than a step), so a forced variant
    // still covers the portable path and every d in the tests.
    BlockStatsVariant v = *forced_;
    while (v.rows > 1 && uint64_t(v.rows) * dp > 1024) v.rows /= 2;
    if (v.shuffle && !shuffle_) v.shuffle = false;
    if (!v.shuffle) v.texel = false;  // texels only with shuffles (checkRunnable says why)
    uint32_t keysPerStep = v.shuffle ? ctx_.caps().subgroupSize : std::max(1u, 1024u / (dp / 4));
    v.chunk = std::min(v.chunk, keysPerStep);
    return v;
  }
  auto it = chosen_.find({dp, shape});
  return it != chosen_.end() ? it->second : defaultBlockStats(dp);
}

BlockStatsVariant Kernels::blockStatsVariant(uint32_t dp, BlockShape shape, uint32_t rows) const {
  BlockStatsVariant v = blockStatsVariant(dp, shape);
  // A forced variant steps down only where its group would cover over 4x the dispatch's
  // rows: the tests (a few hundred rows and up) still run it as itself, while a 16-row probe
  // under a forced r16 no longer computes 1024 rows, 64x the work (a notebook's 16 x 100k
  // probabilities took over 200 s that way instead of 34 s).
  const uint64_t slack = forced_ ? 4 : 1;
  while (v.rows > 1 && uint64_t(v.rows) * v.workgroup > slack * std::max(rows, v.workgroup)) v.rows /= 2;
  // A chunk keeps its compile-time bound (rows x chunk x d/4) as rows only shrink.
  return v;
}

std::vector<BlockStatsVariant> Kernels::blockStatsCandidates(uint32_t dp) const {
  bool cpu = ctx_.caps().type == VK_PHYSICAL_DEVICE_TYPE_CPU;
  // On a CPU device with shuffles every head has texel views (texels go with shuffles), and
  // keys through texels beat the same variant through the storage buffer on every host and
  // shape measured (1.3-1.5x): the storage variants are not timed there, only run where a
  // head cannot have views (they are blockStatsRunnable()'s). Each candidate costs a tuning
  // its compile, which lavapipe does at the first dispatch, one after another, 0.4-2.5 s each
  // on a 2-core Xeon: with them a machine's first tuning took 25 s.
  const bool texelsOnly = cpu && shuffle_;
  std::vector<BlockStatsVariant> out;
  if (!texelsOnly) out.push_back(defaultBlockStats(dp));
  std::vector<uint32_t> workgroups = cpu ? std::vector<uint32_t>{64} : std::vector<uint32_t>{64, 128};
  for (uint32_t wg : workgroups)
    for (bool shuffle : {true, false})
      for (uint32_t rows : {1u, 2u, 4u, 8u, 16u})
        for (uint32_t chunk : {0u, 1u, 8u})
          for (bool texel : {false, true}) {
          BlockStatsVariant v{rows, wg, shuffle, chunk, texel};
          if (rows == 1 && dp <= 256) continue;  // one row per key load is never the fastest where more fit
          if (shuffle && !shuffle_) continue;
          // On a CPU device (lavapipe) a workgroup barrier switches between all its
          // invocations' coroutines: shared-memory keys ran 2-8x slower than shuffles on
          // every host measured, so they are tried only where there are no shuffles.
          if (cpu && !shuffle && shuffle_) continue;
          // lavapipe runs both sides of a divergent branch under a mask, so the per-key
          // branch (c0) pays two exps per cell and c1 one: c1 beat c0 at every rows count and
          // block shape but the one-key blocks of a 1:1 view, where today's default won; so
          // c0 stays only as the default and the default with its keys through texels.
          if (cpu && chunk == 0 && !(texel && rows == defaultBlockStats(dp).rows)) continue;
          // Keys through a texel buffer: 1.3-1.5x faster row statistics on lavapipe (a vector
          // gather per key part instead of a per-lane loop with a branch each). A GPU tries
          // them with the per-key updates; a CPU device also with its one chunked candidate.
          if (texel && chunk > 1 && !cpu) continue;
          // c1 with fewer than 4 rows never won on a CPU device (each key load serves too few
          // rows: 37 against 54 and 71 GFLOP/s for r4 and r8 on a 2-core AVX-512 host).
          if (cpu && chunk == 1 && rows < 4) continue;
          // 16 rows on a CPU device: LLVM's compile of it, done in every process on lavapipe,
          // took ~200 MB more than 8 rows' (a 20k-token render peaked at 358-395 against 186
          // MB, the Python package's at up to 714 MB, over its bound), and with c1 it ran
          // slower than 8 rows (its query rows no longer fit the L1 cache). GPUs keep it.
          if (cpu && rows > 8) continue;
          // Fully unrolled, rows x chunk x d/4 dot products take seconds to compile each. On
          // lavapipe LLVM compiles them in every process, for every pipeline (entropy, soft
          // cap), at up to 1.4 GB for r8.c8 at d = 64, and they ran 2-4x slower than c0 on
          // every host measured: a CPU device keeps only the smallest (r2.c8 at d = 64), so
          // the chunked path is still tried and tested there.
          const uint64_t maxUnroll = cpu ? 256 : 1024;
          if (chunk > 1 && uint64_t(rows) * chunk * (dp / 4) > maxUnroll) continue;
          if (texelsOnly && !texel) continue;
          try {
            checkRunnable(v, dp);
          } catch (const Error&) {
            continue;
          }
          if (std::find(out.begin(), out.end(), v) == out.end()) out.push_back(v);
        }
  return out;
}

bool Kernels::headsMayLackTexelViews() const {
  // HeadData binds K a chunk at a time, each under maxStorageBufferRange and starting at a
  // multiple of 256 keys (4096 bytes at least); its texel view is at most 256 bytes longer.
  const auto& l = ctx_.caps().limits;
  uint64_t align = std::max<uint64_t>(l.minTexelBufferOffsetAlignment, 1);
  return uint64_t(l.maxTexelBufferElements) * 16 < uint64_t(l.maxStorageBufferRange) + 256 || 4096 % align != 0;
}

std::vector<BlockStatsVariant> Kernels::blockStatsRunnable(uint32_t dp) const {
  std::vector<BlockStatsVariant> out{defaultBlockStats(dp)};
  auto add = [&](const BlockStatsVariant& v) {
    if (std::find(out.begin(), out.end(), v) == out.end()) out.push_back(v);
  };
  const bool twins = headsMayLackTexelViews();
  for (const BlockStatsVariant& v : blockStatsCandidates(dp)) {
    add(v);
    if (v.texel && twins) {
      BlockStatsVariant storage = v;  // what a head without texel views runs instead
      storage.texel = false;
      add(storage);
    }
  }
  return out;
}

const ComputePipeline& Kernels::get(const std::string& key, const ComputePipelineDesc& desc) {
  auto it = cache_.find(key);
  if (it != cache_.end()) return *it->second;
  auto p = std::make_unique<ComputePipeline>(ctx_, compiler_, desc);
  return *cache_.emplace(key, std::move(p)).first->second;
}

uint32_t Kernels::minParallelGroups() const {
  // lavapipe runs one thread per CPU core: 8 groups each balance the load (a causal mask's
  // groups differ in work). More only cut each group's run of blocks shorter, so that query
  // rows were loaded for fewer keys: 256 groups made a 16k-token overview 1.3x slower on 2
  // cores. A GPU wants dozens of multiprocessors busy.
  if (ctx_.caps().type == VK_PHYSICAL_DEVICE_TYPE_CPU)
    return std::max(16u, 8u * std::max(1u, std::thread::hardware_concurrency()));
  return 1024;
}

double Kernels::minKeysPerGroup() const { return ctx_.caps().type == VK_PHYSICAL_DEVICE_TYPE_CPU ? 512 : 0; }

double Kernels::flopsPerStrip() const {
  return ctx_.caps().type == VK_PHYSICAL_DEVICE_TYPE_CPU ? 4e9 : 2e11;
}

static std::string blockStatsKey(uint32_t dp, const BlockStatsVariant& v, bool entropy, bool softcap) {
  return "block_stats/" + std::to_string(dp / 4) + "/" + v.name() + (entropy ? "/entropy" : "") +
         (softcap ? "/softcap" : "");
}

static ComputePipelineDesc blockStatsDesc(uint32_t dp, const BlockStatsVariant& v, bool entropy, bool softcap) {
  uint32_t d4 = dp / 4;
  uint32_t kt = std::max(1u, 1024u / d4);  // 16 KiB of keys per shared tile
  return {"block_stats.comp",
          {{"D4", std::to_string(d4)},
           {"ROWS", std::to_string(v.rows)},
           {"USE_SHUFFLE", v.shuffle ? "1" : "0"},
           {"CHUNK", std::to_string(v.chunk)},
           {"KEYS_TEXEL", v.texel ? "1" : "0"},
           {"TRACK_ENTROPY", entropy ? "1" : "0"},
           {"SOFTCAP", softcap ? "1" : "0"}},
          sizeof(gpu::BlockStatsParams),
          {{SPEC_LOCAL_SIZE_X, v.workgroup}, {SPEC_KEYS_PER_TILE, kt}},
          blockStatsKey(dp, v, entropy, softcap)};
}

const ComputePipeline& Kernels::blockStats(uint32_t dp, const BlockStatsVariant& v, bool entropy, bool softcap) {
  std::string key = blockStatsKey(dp, v, entropy, softcap);
  if (!cache_.count(key)) checkRunnable(v, dp);
  return get(key, blockStatsDesc(dp, v, entropy, softcap));
}

void Kernels::prepareBlockStats(uint32_t dp, const std::vector<std::pair<BlockStatsVariant, bool>>& wanted,
                                const std::function<void(double)>& progress) {
  std::vector<std::pair<std::string, ComputePipelineDesc>> todo;
  for (const auto& [v, entropy] : wanted) {
    std::string key = blockStatsKey(dp, v, entropy, false);
    bool queued = std::any_of(todo.begin(), todo.end(), [&](const auto& t) { return t.first == key; });
    if (cache_.count(key) || queued) continue;
    try {
      checkRunnable(v, dp);
    } catch (const Error&) {
      continue;  // blockStats() says why when it is asked for
    }
    todo.emplace_back(key, blockStatsDesc(dp, v, entropy, false));
  }
  if (todo.empty()) return;
  // GLSL -> optimised SPIR-V and the driver's pipeline creation, each pipeline independent,
  // so several cores take some (Vulkan allows pipelines to be created from several threads
  // at once). lavapipe makes the machine code only at a pipeline's first dispatch, one after
  // another on its queue's thread: that part stays serial.
  std::vector<std::unique_ptr<ComputePipeline>> made(todo.size());
  std::atomic<size_t> next{0};
  std::mutex mutex;
  std::condition_variable finished;
  size_t done = 0;
  auto work = [&] {
    for (size_t i = next++; i < todo.size(); i = next++) {
      try {
        made[i] = std::make_unique<ComputePipeline>(ctx_, compiler_, todo[i].second);
      } catch (...) {
        // Left unmade: blockStats() builds it again when asked and reports the error then.
      }
      {
        std::lock_guard<std::mutex> lock(mutex);
        ++done;
      }
      finished.notify_one();
    }
  };
  // At most 4 at once: an optimising compile of a large variant takes a few hundred MB, and
  // a first tuning on a many-core machine should not hold a dozen of them.
  unsigned threads = std::min<unsigned>({unsigned(todo.size()), std::max(1u, std::thread::hardware_concurrency()), 4u});
  std::vector<std::thread> pool;
  for (unsigned t = 0; t < threads; ++t) pool.emplace_back(work);
  {
    std::unique_lock<std::mutex> lock(mutex);
    for (size_t seen = 0; seen < todo.size();) {
      finished.wait(lock, [&] { return done > seen; });
      seen = done;
      if (progress) {
        lock.unlock();
        progress(double(seen) / todo.size());
        lock.lock();
      }
    }
  }
  for (std::thread& t : pool) t.join();
  for (size_t i = 0; i < todo.size(); ++i)
    if (made[i]) cache_.emplace(todo[i].first, std::move(made[i]));
}

// Lanes per row: one, unless there are too few rows to keep the device busy; then more, each
// with at least 8 blocks (a power of two up to 64). On lavapipe the lanes' barriers cost more
// than they save once there are ~1000 rows: at 16k tokens and 1024 texels, one lane per row
// merged a strip in 35 ms, 64 lanes in 200 ms; with a viewer strip's 256 rows, more lanes win.
uint32_t Kernels::statsMergeLanes(uint32_t rows, uint32_t blocks) const {
  const uint32_t busy = ctx_.caps().type == VK_PHYSICAL_DEVICE_TYPE_CPU ? 1024 : 65536;  // invocations
  uint32_t lanes = 1;
  while (lanes < 64 && uint64_t(rows) * lanes < busy && lanes * 8 < blocks) lanes *= 2;
  return lanes;
}

const ComputePipeline& Kernels::statsMerge(uint32_t rows, uint32_t blocks) {
  uint32_t lanes = statsMergeLanes(rows, blocks);
  std::string key = "stats_merge/" + std::to_string(lanes);
  return get(key, {"stats_merge.comp", {}, sizeof(gpu::StatsMergeParams), {{SPEC_LANES_PER_ROW, lanes}}, key});
}

uint32_t Kernels::statsMergeGroups(uint32_t rows, uint32_t blocks) const {
  uint32_t rowsPerGroup = 64 / statsMergeLanes(rows, blocks);
  uint64_t groups = (uint64_t(rows) + rowsPerGroup - 1) / rowsPerGroup;
  return uint32_t(std::clamp<uint64_t>(groups, 1, ctx_.caps().limits.maxComputeWorkGroupCount[0]));
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

const ComputePipeline& Kernels::project(uint32_t dp, bool texelWeights) {
  std::string key = "project/" + std::to_string(dp / 4) + (texelWeights ? ".tb" : "");
  return get(key, {"project.comp", {{"D4", std::to_string(dp / 4)}, {"W_TEXELS", texelWeights ? "1" : "0"}},
                   sizeof(gpu::ProjectParams), {}, key});
}

const ComputePipeline& Kernels::rope() {
  return get("rope", {"rope.comp", {}, sizeof(gpu::RopeParams), {}, "rope"});
}

const ComputePipeline& Kernels::fmaPeak() {
  return get("fma_peak", {"fma_peak.comp", {}, sizeof(gpu::FmaPeakParams), {}, "fma_peak"});
}

}  // namespace attnscope
