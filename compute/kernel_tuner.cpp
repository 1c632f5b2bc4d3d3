#include "compute/kernel_tuner.h"

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <random>

#include <nlohmann/json.hpp>

#include "compute/block_stats_pass.h"
#include "compute/head_data.h"
#include "compute/helper_devices.h"
#include "engine/barriers.h"
#include "engine/commands.h"
#include "engine/context.h"
#include "engine/error.h"
#include "engine/paths.h"

namespace attnscope {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

// Bump when block_stats.comp or the candidate set changes what a variant name means: older
// entries then no longer match and the device is tuned again.
constexpr int kTuningSchema = 6;  // 2: four block shapes; 3: c1 (one exp2 per cell); 4: do-while key loop, no r16 on a CPU; 5: keys through texel buffers (.tb), one loop per kind of block run; 6: on a CPU only texel candidates, timed without the entropy

std::vector<float> randomValues(size_t count, uint32_t seed, float scale) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> g(0.0f, scale);
  std::vector<float> v(count);
  for (float& x : v) x = g(rng);
  return v;
}

// One timed or checked problem: rows [rowBegin, rowEnd) of an n-token head against its keys
// in `blocks` column blocks, written as partials (m, l, t) per (row, block).
struct Problem {
  uint32_t n, rowBegin, rowEnd, blocks;
  MaskKind mask;
  uint32_t window;
  bool entropy;
};

struct Workspace {
  HeadData head;
  ColumnBlocks blocks;
  Buffer partials;
  AttentionSpec spec;
  Problem problem;
  std::vector<float> q, k;
};

Workspace makeWorkspace(Context& ctx, uint32_t d, const Problem& p, uint32_t seed) {
  Workspace w;
  w.problem = p;
  w.q = randomValues(size_t(p.n) * d, seed, 1.0f);
  w.k = randomValues(size_t(p.n) * d, seed + 1, 1.0f);
  w.head = HeadData::fromHost(ctx, p.n, d, w.q.data(), w.k.data(), nullptr);
  w.blocks = makeColumnBlocks(ctx, evenBounds(0, p.n, p.blocks));
  w.partials = Buffer(ctx, uint64_t(p.rowEnd - p.rowBegin) * p.blocks * kStatsBytes,
                      VK_BUFFER_USAGE_STORAGE_BUFFER_BIT | VK_BUFFER_USAGE_TRANSFER_DST_BIT |
                          VK_BUFFER_USAGE_TRANSFER_SRC_BIT,
                      MemoryUse::DeviceLocal, "tuning partials");
  w.spec.n = p.n;
  w.spec.d = d;
  w.spec.mask = p.mask;
  w.spec.window = p.window;
  return w;
}

// Records one run of the variant over the workspace (zeroed partials, then every key chunk).
void record(Recording& rec, Kernels& kernels, Workspace& w, const BlockStatsVariant& v) {
  barrier::computeToTransferWrite(rec.cmd);  // the previous run's reads are done before the fill
  vkCmdFillBuffer(rec.cmd, w.partials.handle(), 0, VK_WHOLE_SIZE, 0);
  barrier::transferToCompute(rec.cmd);  // zeros (the merge's identity) before the first merge
  bool first = true;
  for (const KeyChunk& chunk : w.head.chunks(0, w.problem.n)) {
    if (!first) barrier::computeToCompute(rec.cmd);  // chunks merge into the same partials
    first = false;
    BlockStatsArgs a{w.problem.rowBegin, w.problem.rowEnd, &w.blocks, chunk, &w.partials, w.problem.rowBegin,
                     w.problem.entropy, &v};
    recordBlockStats(rec, kernels, w.head, w.spec, a);
  }
  barrier::computeToTransfer(rec.cmd);  // the partials are complete before a readback copies them
}

// The variant's partials against the same sums in double precision.
std::string checkAgainstDouble(Context& ctx, Kernels& kernels, Workspace& w, const BlockStatsVariant& v) {
  CommandStream stream(ctx);
  Recording rec = stream.begin();
  record(rec, kernels, w, v);
  stream.submitAndWait();
  const Problem& p = w.problem;
  std::vector<float> got(size_t(p.rowEnd - p.rowBegin) * p.blocks * 4);
  w.partials.download(got.data(), got.size() * 4);
  const uint32_t d = w.spec.d;
  const auto& bounds = w.blocks.host;
  for (uint32_t i = p.rowBegin; i < p.rowEnd; ++i) {
    uint64_t lo, hi;
    w.spec.keyRange(i, lo, hi);
    for (uint32_t b = 0; b < p.blocks; ++b) {
      double m = -INFINITY, l = 0, t = 0;
      std::vector<double> s;
      for (uint64_t j = std::max<uint64_t>(lo, bounds[b]); j < std::min<uint64_t>(hi, bounds[b + 1]); ++j) {
        double dot = 0;
        for (uint32_t c = 0; c < d; ++c) dot += double(w.q[size_t(i) * d + c]) * w.k[size_t(j) * d + c];
        s.push_back(w.spec.logit(dot));
        m = std::max(m, s.back());
      }
      for (double x : s) {
        l += std::exp(x - m);
        t += std::exp(x - m) * (x - m);
      }
      const float* g = &got[(size_t(i - p.rowBegin) * p.blocks + b) * 4];
      bool ok = s.empty() ? g[1] == 0.0f
                          : std::abs(g[0] - m) <= 1e-5 * std::max(1.0, std::abs(m)) &&
                                std::abs(g[1] - l) <= 1e-4 * l &&
                                (!p.entropy || std::abs(g[2] - t) <= 1e-4 * std::max(1.0, std::abs(t)));
      if (!ok) {
        char buf[256];
        std::snprintf(buf, sizeof buf, "row %u block %u: (m, l, t) = (%.6g, %.6g, %.6g), expected (%.6g, %.6g, %.6g)", i,
                      b, g[0], g[1], g[2], m, l, t);
        return buf;
      }
    }
  }
  return "";
}

// Best time of `reps` runs after one warm-up (the first dispatch of a pipeline on lavapipe
// includes its JIT).
double timeRuns(Context& ctx, Kernels& kernels, Workspace& w, const BlockStatsVariant& v, int reps) {
  CommandStream stream(ctx);
  double best = 1e300;
  for (int rep = 0; rep <= reps; ++rep) {
    stream.timer().clearTotals();
    Recording rec = stream.begin();
    {
      TimedScope t(rec, "tune");
      record(rec, kernels, w, v);
    }
    auto t0 = Clock::now();
    stream.submitAndWait();
    double wall = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
    const auto& totals = stream.timer().totalsMs();
    double ms = totals.count("tune") ? totals.at("tune") : wall;
    if (rep > 0) best = std::min(best, ms);
  }
  return best;
}

// The four timed problems. Long: rows against 8192 keys in 4 blocks of 2048 (the row
// statistics split their keys like this for parallelism). Medium: the last rows of a causal map
// in blocks of ~100 keys (the viewer's sweep). Narrow: the same in blocks of ~24 keys (a
// whole-map overview of 16k-64k tokens). Short: one key per block (a 1:1 view). A GPU gets 8x
// the rows, or a dispatch would not fill it.
std::array<Problem, kBlockShapes> timedShapes(const Context& ctx) {
  const uint32_t R = ctx.caps().type == VK_PHYSICAL_DEVICE_TYPE_CPU ? 1024 : 8192;
  return {{{8192, 0, R, 4, MaskKind::None, 0, false},
           {4096 + R, 4096, 4096 + R, 40 + R / 100, MaskKind::Causal, 0, false},
           {4096 + R, 4096, 4096 + R, (4096 + R) / 24, MaskKind::Causal, 0, false},
           {512 + R / 2, 512, 512 + R / 2, 512, MaskKind::Causal, 0, false}}};
}

double flopsOf(const Workspace& w) {
  return 2.0 * w.spec.d * double(w.spec.unmaskedCells(w.problem.rowBegin, w.problem.rowEnd, 0, w.problem.n));
}

}  // namespace

bool tuningEnabled() {
  const char* env = std::getenv("ATTNSCOPE_TUNE");
  return !(env && std::string(env) == "0");
}

KernelTuner::KernelTuner(Context& ctx, Kernels& kernels, fs::path cacheFile)
    : ctx_(ctx), kernels_(kernels), file_(std::move(cacheFile)) {
  if (file_.empty()) {
    fs::path dir = cacheDir();
    if (!dir.empty()) file_ = dir / "kernel-tuning.json";
  }
}

std::string KernelTuner::cacheKey(uint32_t dp) const {
  const DeviceCaps& c = ctx_.caps();
  VkPhysicalDeviceProperties props;
  vkGetPhysicalDeviceProperties(ctx_.physicalDevice(), &props);
  char ids[64];
  std::snprintf(ids, sizeof ids, "%04x:%04x", props.vendorID, props.deviceID);
  return c.name + " | " + ids + " | driver " + std::to_string(c.driverVersion) + " " + c.driverName + " " +
         c.driverInfo + " | schema " + std::to_string(kTuningSchema) + " | dp " + std::to_string(dp);
}

std::string KernelTuner::check(const BlockStatsVariant& v, uint32_t dp, MaskKind mask, std::optional<double> softcap,
                               bool entropy) {
  Problem p{300, 100, 170, 8, mask, 50, entropy};
  Workspace w = makeWorkspace(ctx_, dp, p, 7);
  w.spec.softcap = softcap;
  return checkAgainstDouble(ctx_, kernels_, w, v);
}

CandidateTiming KernelTuner::measure(const BlockStatsVariant& v, uint32_t dp) {
  CandidateTiming c;
  c.variant = v;
  // Correctness first, on a problem with partial workgroups, masked and empty blocks. All
  // without the entropy: on lavapipe each pipeline is compiled at its first dispatch, one
  // after another, so timing both would double a first tuning; prepare() checks the winners
  // with it.
  std::string wrong = check(v, dp, MaskKind::WindowBoth, std::nullopt, false);
  if (!wrong.empty()) throw Error("block_stats variant " + v.name() + " computes wrong values: " + wrong);
  const std::array<Problem, kBlockShapes> shapes = timedShapes(ctx_);
  for (int i = 0; i < kBlockShapes; ++i) {
    Workspace w = makeWorkspace(ctx_, dp, shapes[i], 11 + i);
    c.ms[i] = timeRuns(ctx_, kernels_, w, v, 3);  // best of 3: with 2, close candidates swapped places run to run
    c.gflops[i] = flopsOf(w) / (c.ms[i] / 1e3) / 1e9;
  }
  return c;
}

void KernelTuner::prime(const BlockStatsVariant& v, uint32_t dp, bool entropy) {
  // What measure() (without the entropy) or the winners' check (with it) dispatch, once each,
  // with the same buffers (llvmpipe keys its machine code on their sizes too), so that each
  // later finds its code made.
  check(v, dp, MaskKind::WindowBoth, std::nullopt, entropy);
  if (entropy) return;
  const std::array<Problem, kBlockShapes> shapes = timedShapes(ctx_);
  for (int i = 0; i < kBlockShapes; ++i) {
    Workspace w = makeWorkspace(ctx_, dp, shapes[i], 11 + i);
    timeRuns(ctx_, kernels_, w, v, 0);
  }
}

void KernelTuner::primeInParallel(const std::vector<BlockStatsVariant>& candidates, uint32_t dp,
                                  const std::function<void(double)>& progress) {
  // Most of a machine's first tuning on a CPU device is lavapipe's first-dispatch compiles
  // (6.7 s of 7.7 on a 2-vCPU Xeon): each (candidate, entropy) pipeline is dispatched once
  // first, here and on helper devices at once (helper_devices.h), the largest first (r8's
  // compile is ~1.8 s, r2's ~0.5). The timings then run on this device alone, undisturbed.
  if (helperDevicesFor(ctx_, 2 * candidates.size()) == 0) return;
  std::vector<std::pair<BlockStatsVariant, bool>> units;
  for (const BlockStatsVariant& v : candidates)
    for (bool entropy : {false, true}) units.emplace_back(v, entropy);
  std::stable_sort(units.begin(), units.end(), [](const auto& a, const auto& b) { return a.first.rows > b.first.rows; });
  spreadOverHelperDevices(
      ctx_, kernels_, units.size(),
      [&](Context& ctx, Kernels& kernels, unsigned slot, size_t i) {
        if (slot == 0) {
          try {
            prime(units[i].first, dp, units[i].second);
          } catch (const Error&) {
            // measure() runs it again and leaves the candidate out, saying why.
          }
          return;
        }
        KernelTuner helper(ctx, kernels);
        helper.prime(units[i].first, dp, units[i].second);
      },
      HelperHooks{}, progress);
}

TuneReport KernelTuner::prepare(uint32_t dp, bool retune, const std::function<void(double)>& progress) {
  TuneReport r;
  r.dp = dp;
  auto apply = [&] {
    for (int i = 0; i < kBlockShapes; ++i) kernels_.chooseBlockStats(dp, BlockShape(i), r.chosen[i]);
  };
  if (kernels_.forcedByEnvironment()) {
    r.forced = true;
    for (int i = 0; i < kBlockShapes; ++i) r.chosen[i] = kernels_.blockStatsVariant(dp, BlockShape(i));
    return r;
  }
  if (!tuningEnabled() && !retune) {
    r.disabled = true;
    for (auto& c : r.chosen) c = kernels_.defaultBlockStats(dp);
    apply();
    return r;
  }
  if (!retune && readCache(dp, r)) {
    apply();
    return r;
  }
  auto t0 = Clock::now();
  std::vector<BlockStatsVariant> candidates = kernels_.blockStatsCandidates(dp);
  std::fprintf(stderr, "attnscope: timing %zu block_stats variants for %s at d = %u (once; cached in %s)\n",
               candidates.size(), ctx_.caps().name.c_str(), dp, file_.empty() ? "memory only" : file_.string().c_str());
  // Build every candidate's pipelines first, in parallel: on a machine's first run the
  // compiles took ~4/5 of the tuning, one after another. The bar's first part follows them.
  // The bar: the parallel builds, then each candidate's run (its first dispatch compiles it on
  // lavapipe), then the winners' checks with the entropy (one more compile each).
  const double compileShare = 0.15, primeShare = 0.45, measureShare = 0.3;
  std::vector<std::pair<BlockStatsVariant, bool>> pipelines;
  for (const BlockStatsVariant& v : candidates) pipelines.emplace_back(v, false);
  kernels_.prepareBlockStats(dp, pipelines, [&](double f) {
    if (progress) progress(compileShare * f);
  });
  primeInParallel(candidates, dp, [&](double f) {
    if (progress) progress(compileShare + primeShare * f);
  });
  for (size_t i = 0; i < candidates.size(); ++i) {
    try {
      r.candidates.push_back(measure(candidates[i], dp));
    } catch (const OutOfDeviceMemory&) {
      throw;
    } catch (const Error& e) {
      CandidateTiming bad;
      bad.variant = candidates[i];
      bad.correct = false;
      bad.problem = e.what();
      r.candidates.push_back(bad);
      std::fprintf(stderr, "attnscope: note: %s; left out\n", e.what());
    }
    if (progress) progress(compileShare + primeShare + measureShare * double(i + 1) / candidates.size());
  }
  // The winners, each checked with the entropy too (the sweep tracks it); one that is then
  // wrong is left out and its shapes choose again.
  int checked = 0;  // usually one or two distinct winners
  for (bool settled = false; !settled;) {
    settled = true;
    for (int i = 0; i < kBlockShapes && settled; ++i) {
      CandidateTiming* best = nullptr;
      for (CandidateTiming& c : r.candidates)
        if (c.correct && (!best || c.ms[i] < best->ms[i])) best = &c;
      if (!best) throw Error("no block_stats variant computes correct values on " + ctx_.caps().name);
      r.chosen[i] = best->variant;
      if (best->entropyChecked) continue;
      std::string wrong;
      try {
        wrong = check(best->variant, dp, MaskKind::WindowBoth, std::nullopt, true);
      } catch (const OutOfDeviceMemory&) {
        throw;
      } catch (const Error& e) {
        wrong = e.what();
      }
      best->entropyChecked = true;
      double before = compileShare + primeShare + measureShare;
      if (progress) progress(std::min(1.0, before + (1.0 - before) * ++checked / 2.0));
      if (!wrong.empty()) {
        best->correct = false;
        best->problem = "with the entropy: " + wrong;
        std::fprintf(stderr, "attnscope: note: block_stats variant %s computes wrong values with the entropy: %s; left out\n",
                     best->variant.name().c_str(), wrong.c_str());
        settled = false;
      }
    }
  }
  r.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  apply();
  writeCache(r);
  return r;
}

bool KernelTuner::readCache(uint32_t dp, TuneReport& out) {
  if (file_.empty() || !fs::exists(file_)) return false;
  auto notice = [&](const std::string& why) {
    std::fprintf(stderr, "attnscope: note: ignoring the kernel tuning cache %s (%s); timing again\n",
                 file_.string().c_str(), why.c_str());
    return false;
  };
  nlohmann::json j;
  try {
    std::ifstream in(file_);
    in >> j;
  } catch (const std::exception&) {
    return notice("it is not valid JSON");
  }
  try {
    const auto& entries = j.at("entries");
    auto it = entries.find(cacheKey(dp));
    if (it == entries.end()) return false;  // another device, driver or d: not an error
    for (int i = 0; i < kBlockShapes; ++i) {
      BlockStatsVariant v = BlockStatsVariant::parse(it->at("variants").at(blockShapeName(BlockShape(i))).get<std::string>());
      kernels_.checkRunnable(v, dp);
      out.chosen[i] = v;
    }
    out.fromCache = true;
    for (const auto& c : it->value("candidates", nlohmann::json::array())) {
      CandidateTiming t;
      t.variant = BlockStatsVariant::parse(c.at("variant").get<std::string>());
      for (int i = 0; i < kBlockShapes; ++i) {
        const char* shape = blockShapeName(BlockShape(i));
        t.ms[i] = c.at("ms").value(shape, 0.0);
        t.gflops[i] = c.at("gflops").value(shape, 0.0);
      }
      t.correct = c.value("correct", true);
      t.problem = c.value("problem", "");
      out.candidates.push_back(t);
    }
    return true;
  } catch (const std::exception& e) {
    return notice(std::string("its entry for this device is unreadable: ") + e.what());
  }
}

void KernelTuner::writeCache(const TuneReport& r) {
  if (file_.empty()) return;
  nlohmann::json j;
  try {
    std::ifstream in(file_);
    if (in) in >> j;
    if (!j.is_object() || !j.contains("entries") || !j["entries"].is_object()) j = nlohmann::json::object();
  } catch (const std::exception&) {
    j = nlohmann::json::object();  // corrupt: replaced (readCache said so)
  }
  nlohmann::json cands = nlohmann::json::array();
  for (const CandidateTiming& c : r.candidates) {
    nlohmann::json ms, gflops;
    for (int i = 0; i < kBlockShapes; ++i) {
      ms[blockShapeName(BlockShape(i))] = std::round(c.ms[i] * 1000) / 1000;
      gflops[blockShapeName(BlockShape(i))] = std::round(c.gflops[i] * 1000) / 1000;
    }
    cands.push_back({{"variant", c.variant.name()}, {"ms", ms}, {"gflops", gflops}, {"correct", c.correct},
                     {"problem", c.problem}});
  }
  nlohmann::json variants;
  for (int i = 0; i < kBlockShapes; ++i) variants[blockShapeName(BlockShape(i))] = r.chosen[i].name();
  j["entries"][cacheKey(r.dp)] = {{"variants", variants}, {"seconds", r.seconds}, {"candidates", cands}};
  // Written aside and renamed: a reader never sees half a file.
  fs::path tmp = file_;
  tmp += ".partial";
  {
    std::ofstream out(tmp);
    out << j.dump(1) << "\n";
    if (!out) return;  // a read-only cache folder: tuning still applies to this run
  }
  std::error_code ec;
  fs::rename(tmp, file_, ec);
}

}  // namespace attnscope
