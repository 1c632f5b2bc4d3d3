// Rotary position embedding (RoPE) on the GPU, for Q and K captured before rotary.
#pragma once
#include <cstdint>
#include <string>

#include "compute/head_data.h"

namespace attnscope {

class Kernels;

struct RopeSpec {
  double base = 10000.0;
  uint32_t dims = 0;    // rotary dimensions (even, <= d); 0: all of d (rounded down to even)
  bool halves = true;   // pairs (c, c + dims/2) as rotate_half does (Llama, NeoX); false: (2c, 2c+1)
};

// Rotates Q and K of `head` in place (rows are positions 0..n-1). Blocking: done once on load.
void applyRope(Context& ctx, Kernels& kernels, HeadData& head, const RopeSpec& spec);

// w_c / 2pi for rotary pair c as a 64-bit fixed-point fraction of a turn.
uint64_t rotaryTurns(double base, uint32_t dims, uint32_t c);

}  // namespace attnscope
