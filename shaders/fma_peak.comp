// The device's FP32 FMA rate: 16 independent chains per invocation, enough to hide FMA
// latency on CPUs (lavapipe runs 8 invocations per AVX2 register) and GPUs alike, four steps
// of each per loop iteration. lavapipe runs a loop under a per-lane mask and blends every
// value carried round it with that mask on each iteration: with one step per iteration each
// FMA came with a blend and the loop measured half the rate (2-core AMD EPYC: 90-107 against
// 154-160 GFLOP/s). P.iterations is a multiple of 4.
#version 450
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require
#include "params.h"

layout(local_size_x = 64) in;
layout(std430, binding = 0) writeonly buffer Out { float o[]; };
layout(push_constant) uniform Push { FmaPeakParams P; };

void main() {
  float s = P.seed + float(gl_GlobalInvocationID.x) * 1e-7;
  float a0 = s, a1 = s + 1.0, a2 = s + 2.0, a3 = s + 3.0, a4 = s + 4.0, a5 = s + 5.0;
  float a6 = s + 6.0, a7 = s + 7.0, a8 = s + 8.0, a9 = s + 9.0, a10 = s + 10.0;
  float a11 = s + 11.0, a12 = s + 12.0, a13 = s + 13.0, a14 = s + 14.0, a15 = s + 15.0;
  const float b = 0.9999, c = 0.0001;
  for (uint it = 0; it < P.iterations; it += 4u) {
    [[unroll]] for (uint step = 0; step < 4u; ++step) {
      a0 = fma(a0, b, c); a1 = fma(a1, b, c); a2 = fma(a2, b, c); a3 = fma(a3, b, c);
      a4 = fma(a4, b, c); a5 = fma(a5, b, c); a6 = fma(a6, b, c); a7 = fma(a7, b, c);
      a8 = fma(a8, b, c); a9 = fma(a9, b, c); a10 = fma(a10, b, c); a11 = fma(a11, b, c);
      a12 = fma(a12, b, c); a13 = fma(a13, b, c); a14 = fma(a14, b, c); a15 = fma(a15, b, c);
    }
  }
  o[gl_GlobalInvocationID.x] = a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8 + a9 + a10 + a11 +
                               a12 + a13 + a14 + a15;
}
