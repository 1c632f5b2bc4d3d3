// O_i = sum_j p_ij v_j for a range of query rows, over one chunk of keys, given the rows'
// statistics (m_i, l_i). One workgroup per row: lanes stride over keys, then reduce.
// Variants (-D): D4 = padded head dimension / 4; SOFTCAP = soft-capped logits (block_stats.comp).
#version 450
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require
#include "params.h"
#include "common.glsl"

layout(local_size_x = 64) in;
layout(std430, binding = 0) readonly buffer QBuf { vec4 q[]; };
layout(std430, binding = 1) readonly buffer KBuf { vec4 k[]; };
layout(std430, binding = 2) readonly buffer VBuf { vec4 v[]; };
layout(std430, binding = 3) readonly buffer Stats { vec4 stats[]; };
layout(std430, binding = 4) buffer Out { vec4 o[]; };
layout(push_constant) uniform Push { AttnOutputParams P; };

shared vec4 red[64];

void main() {
  uint i = P.rowBegin + gl_WorkGroupID.x;
  uint lid = gl_LocalInvocationID.x;
  vec4 st = stats[i - P.statsRow0];
  uvec2 range = keyRange(i, P.n, P.maskKind, P.window, P.queryBegin);
  uint lo = max(range.x, P.colBegin), hi = min(range.y, P.colEnd);

  vec4 qv[D4];
  uint qOff = P.qSkip / 4u + (i - P.rowBegin) * D4;
  [[unroll]] for (uint c = 0; c < D4; ++c) qv[c] = q[qOff + c];
  vec4 acc[D4];
  [[unroll]] for (uint c = 0; c < D4; ++c) acc[c] = vec4(0.0);

  for (uint j = lo + lid; j < hi; j += 64u) {
    uint kOff = P.kSkip / 4u + (j - P.kCol0) * D4;
    uint vOff = P.vSkip / 4u + (j - P.kCol0) * D4;
    float s = 0.0;
    [[unroll]] for (uint c = 0; c < D4; ++c) s += dot(qv[c], k[kOff + c]);
    float x = s * P.logitScale;
#if SOFTCAP
    x = softcapLogit(x, P.softcap, P.capScale);
#endif
    float p = exp(x - st.x) / st.y;
    [[unroll]] for (uint c = 0; c < D4; ++c) acc[c] += p * v[vOff + c];
  }

  uint outRow = (i - P.statsRow0) * D4;
  for (uint c = 0; c < D4; ++c) {
    red[lid] = acc[c];
    barrier();  // all lanes' partial sums are in shared memory
    for (uint stride = 32u; stride > 0u; stride >>= 1u) {
      if (lid < stride) red[lid] += red[lid + stride];
      barrier();  // this level of the tree is complete before the next reads it
    }
    if (lid == 0u) o[outRow + c] = (P.accumulate != 0u ? o[outRow + c] : vec4(0.0)) + red[0];
    barrier();  // red[0] is read before the next dimension overwrites it
  }
}
