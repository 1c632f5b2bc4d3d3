// Picks the fastest correct block_stats variant for this device and head dimension, once per
// block shape: the candidates are timed on four small problems shaped like the real work
// (one block over all keys, as the row statistics; blocks of ~100 keys under a causal mask,
// as the whole-map sweep; of ~24, as a 16k-64k overview; one key per block, as a 1:1 view),
// each is checked against a double-precision computation first (the winners also with the
// entropy), and the winners are kept per (device, driver, d) in the cache folder beside the
// SPIR-V cache.
// A second run reads it back; a new driver, `attnscope tune` or a changed kernel set tunes
// again. A corrupt or stale cache file is set aside with a one-line notice.
#pragma once
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "compute/attention_spec.h"
#include "compute/kernels.h"

namespace attnscope {

struct CandidateTiming {
  BlockStatsVariant variant;
  // Per BlockShape: best of the repetitions (GPU time where timestamps exist), and its rate.
  double ms[kBlockShapes] = {};
  double gflops[kBlockShapes] = {};
  bool correct = true;
  std::string problem;  // why it was left out (a wrong value, a failed build)
  bool entropyChecked = false;  // also checked with the entropy (winners only)
};

struct TuneReport {
  uint32_t dp = 0;
  BlockStatsVariant chosen[kBlockShapes];  // per BlockShape
  bool fromCache = false;             // read back, nothing was timed
  bool forced = false;                // ATTNSCOPE_KERNEL decided, nothing was timed
  bool disabled = false;              // ATTNSCOPE_TUNE=0: the untuned default
  double seconds = 0;                 // spent tuning (compiling included)
  std::vector<CandidateTiming> candidates;  // as measured now or as the cache recorded them
};

class KernelTuner {
 public:
  // cacheFile empty: <cacheDir()>/kernel-tuning.json (no file at all when there is no cache folder).
  KernelTuner(Context& ctx, Kernels& kernels, std::filesystem::path cacheFile = {});

  // Makes `kernels` use the best variant for dp: from the cache, else measured now (a line on
  // stderr says so, and `progress` follows it). retune: measure even when the cache has it.
  TuneReport prepare(uint32_t dp, bool retune = false, const std::function<void(double)>& progress = {});

  // The cache's key for this device and dp: device, vendor and device ids, driver version and
  // info, the tuning schema.
  std::string cacheKey(uint32_t dp) const;
  const std::filesystem::path& cacheFile() const { return file_; }

  // Times one variant (for bench and tests); throws Error when it computes wrong values.
  CandidateTiming measure(const BlockStatsVariant& v, uint32_t dp);
  // The variant's partials (m, l, t) on a small problem with partial workgroups, masked and
  // empty blocks, against the same sums in double precision: "" when they agree, else the
  // first cell that does not. `mask` and `softcap` vary the problem (tests run them all).
  std::string check(const BlockStatsVariant& v, uint32_t dp, MaskKind mask = MaskKind::WindowBoth,
                    std::optional<double> softcap = std::nullopt, bool entropy = true);

 private:
  // Runs what measure() and the winners' check dispatch, once, so that each pipeline's code is
  // made (a CPU device makes it at the first dispatch).
  void prime(const BlockStatsVariant& v, uint32_t dp, bool entropy);
  // The same for every candidate, shared with helper devices that run at once (CPU devices).
  void primeInParallel(const std::vector<BlockStatsVariant>& candidates, uint32_t dp,
                       const std::function<void(double)>& progress);
  bool readCache(uint32_t dp, TuneReport& out);
  void writeCache(const TuneReport& report);
  Context& ctx_;
  Kernels& kernels_;
  std::filesystem::path file_;
};

// ATTNSCOPE_TUNE=0 turns tuning off (the untuned default everywhere; the test suite does this
// so that what it tests does not depend on timing).
bool tuningEnabled();

}  // namespace attnscope
