// Y = X W + b for a chunk of rows: the per-head projections W_q, W_k, W_v.
// Variant (-D): D4 = padded output dimension / 4 (padding columns of W are zero).
#version 450
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require
#include "params.h"

layout(local_size_x = 64) in;
layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) readonly buffer W { vec4 w[]; };  // [dModel][D4]
layout(std430, binding = 2) readonly buffer Bias { vec4 bias[]; };
layout(std430, binding = 3) writeonly buffer Y { vec4 y[]; };
layout(push_constant) uniform Push { ProjectParams P; };

void main() {
  uint row = gl_GlobalInvocationID.x;
  if (row >= P.rowCount) return;
  vec4 acc[D4];
  [[unroll]] for (uint c = 0; c < D4; ++c) acc[c] = bias[c];
  for (uint m = 0; m < P.dModel; ++m) {
    float xv = x[row * P.dModel + m];
    [[unroll]] for (uint c = 0; c < D4; ++c) acc[c] += xv * w[m * D4 + c];
  }
  [[unroll]] for (uint c = 0; c < D4; ++c) y[P.ySkip / 4u + row * D4 + c] = acc[c];
}
