// Y = X W + b for a chunk of rows: the per-head projections W_q, W_k, W_v.
// Variant (-D): D4 = padded output dimension / 4 (padding columns of W are zero);
// W_TEXELS = 1 reads W through a texel buffer, 0 through a storage buffer.
// Every lane reads the same W element, but at an index that depends on the loop counter, and
// llvmpipe treats a storage load as uniform only when its index is a constant or push
// constant: anything else is a loop over the lanes with a branch per element, which made
// this kernel run at 5 GFLOP/s on a CPU that does 110. A texelFetch is one vector gather
// (2.3x faster at 100k tokens, d = 64, on an AVX-512 Xeon). Splitting the columns over
// invocations, or several rows per invocation, measured no better there.
#version 450
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require
#include "params.h"

layout(local_size_x = 64) in;
layout(std430, binding = 0) readonly buffer X { float x[]; };
#if W_TEXELS
layout(binding = 1) uniform samplerBuffer W;  // [dModel][D4] RGBA32F texels
vec4 weight(uint index) { return texelFetch(W, int(index)); }
#else
layout(std430, binding = 1) readonly buffer W { vec4 w[]; };  // [dModel][D4]
vec4 weight(uint index) { return w[index]; }
#endif
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
    [[unroll]] for (uint c = 0; c < D4; ++c) acc[c] += xv * weight(m * D4 + c);
  }
  [[unroll]] for (uint c = 0; c < D4; ++c) y[P.ySkip / 4u + row * D4 + c] = acc[c];
}
