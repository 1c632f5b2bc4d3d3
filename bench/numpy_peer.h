// The whole-map overview against a peer most researchers already have: the same overview
// (max and mean of p pooled to T x T texels, causal) computed by numpy with OpenBLAS,
// chunked over query rows, on the same Q and K, in the same bench run. Both results are
// compared texel by texel, so the figure is a race between two correct programs.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace attnscope {

class Context;
class Kernels;

struct NumpyPeerOptions {
  std::vector<uint32_t> tokens{16384, 32768};
  uint32_t d = 64;
  uint32_t texels = 1024;
  int repeat = 2;        // best of, on both sides
  std::string python;    // a Python with numpy; empty: $ATTNSCOPE_PYTHON, /usr/bin/python3, python3
};

// {"peer": ..., "sizes": [{n, attnscope_seconds, numpy_seconds, ratio, agreement}]}, or
// {"skipped": "why"} when no Python with numpy is found (the rest of bench still runs).
nlohmann::json numpyPeerFigures(Context& ctx, Kernels& kernels, const NumpyPeerOptions& options);

}  // namespace attnscope
