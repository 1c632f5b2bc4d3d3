// The benchmark figures the issues ask for, measured with GPU timestamps and wall clocks,
// returned as JSON. Speed lives here, never in timed tests.
#pragma once
#include <nlohmann/json.hpp>

namespace attnscope {

struct GpuSession;

struct BenchOptions {
  bool quick = false;            // small sizes: a smoke run for tests
  bool overview = true;          // the 100 000-token whole-map overview (slowest part)
  uint32_t overviewTokens = 100000;
  bool untuned = false;          // the fixed default kernels, as before tuning (for comparison)
};

nlohmann::json runBenchmarks(GpuSession& session, const BenchOptions& options);

}  // namespace attnscope
