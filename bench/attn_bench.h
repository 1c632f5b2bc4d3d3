// The benchmark figures the issues ask for, measured with GPU timestamps and wall clocks,
// returned as JSON. Speed lives here, never in timed tests.
#pragma once
#include <string>

#include <nlohmann/json.hpp>

namespace attnscope {

struct GpuSession;

struct BenchOptions {
  bool quick = false;            // small sizes: a smoke run for tests
  bool rowStats = true;          // row statistics (tuned, and untuned beside them)
  bool view = true;              // the 1:1 1280x720 view at 100k
  bool overview = true;          // the 100 000-token whole-map overview (slowest part)
  uint32_t overviewTokens = 100000;
  bool untuned = false;          // the fixed default kernels, as before tuning (for comparison)
  bool numpyPeer = true;         // the overview against numpy at 16k and 32k tokens (quick: 2k)
  std::string python;            // a Python with numpy for it; empty: found (numpy_peer.h)
};

nlohmann::json runBenchmarks(GpuSession& session, const BenchOptions& options);

}  // namespace attnscope
