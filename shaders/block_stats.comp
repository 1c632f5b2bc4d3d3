// Online softmax in pieces: for every (query row, column block) the max logit m_b,
// l_b = sum exp(s_ij - m_b) and t_b = sum exp(s_ij - m_b)(s_ij - m_b) over the block's unmasked
// keys (t gives the row entropy). With one block spanning all
// keys this is the row statistics pass; with one block per texel column it is the first
// half of the tile pass. It never stores the n^2 logits.
//
// Variants (-D): D4 = padded head dimension / 4, ROWS = query rows per invocation,
// USE_SHUFFLE = lanes load different keys and broadcast them with subgroupShuffle (the fast
// path on lavapipe and GPUs alike); without it, keys are staged through shared memory.
// TRACK_ENTROPY = also accumulate t (costs 10-20 % on lavapipe; only the viewer's sweep and
// the row-entropy tests need it); without it t stays 0. SOFTCAP = logits are soft-capped
// (C tanh(s / C), Gemma-2) before the temperature.
#version 450
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require
#if USE_SHUFFLE
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_shuffle : require
#endif

#include "params.h"
#include "common.glsl"

layout(local_size_x_id = SPEC_LOCAL_SIZE_X) in;
layout(constant_id = SPEC_KEYS_PER_TILE) const uint KT = 16;  // keys per shared-memory tile (portable path)

layout(std430, binding = 0) readonly buffer QBuf { vec4 q[]; };
layout(std430, binding = 1) readonly buffer KBuf { vec4 k[]; };
layout(std430, binding = 2) readonly buffer BlockBounds { uint blockCol[]; };
layout(std430, binding = 3) buffer Partials { vec4 part[]; };
layout(push_constant) uniform Push { BlockStatsParams P; };

#if !USE_SHUFFLE
shared vec4 ks[KT * D4];
#endif

void main() {
  const uint WG = gl_WorkGroupSize.x;
  const uint rowEnd = P.rowBegin + P.rowCount;
  const uvec2 group = balancedGroupId();
  const uint rowBase = P.rowBegin + group.x * WG * ROWS;

  // Query rows are loaded once and reused for every block this workgroup walks through:
  // reloading them per block cost more memory traffic than the keys themselves.
  vec4 qv[ROWS * D4];
  uint lo[ROWS], hi[ROWS];
  bool valid[ROWS];
  [[unroll]] for (uint r = 0; r < ROWS; ++r) {
    uint i = rowBase + r * WG + gl_LocalInvocationID.x;
    valid[r] = i < rowEnd;
    i = min(i, rowEnd - 1u);  // stay in bounds but keep every lane running: shuffles need them
    uvec2 range = keyRange(i, P.n, P.maskKind, P.window, P.queryBegin);
    lo[r] = range.x;
    hi[r] = range.y;
    uint qOff = P.qSkip / 4u + (i - P.rowBegin) * D4;
    [[unroll]] for (uint c = 0; c < D4; ++c) qv[r * D4 + c] = q[qOff + c];
  }
  // Keys any row of this workgroup may see: key ranges grow with the row for every mask.
  uint lastRow = min(rowBase + WG * ROWS, rowEnd) - 1u;
  uint groupLo = max(P.colBegin, keyRange(rowBase, P.n, P.maskKind, P.window, P.queryBegin).x);
  uint groupHi = min(P.colEnd, keyRange(lastRow, P.n, P.maskKind, P.window, P.queryBegin).y);
  const uint kBase = P.kSkip / 4u;

  uint firstBlock = P.blockFirst + group.y * P.blocksPerGroup;
  uint lastBlock = min(firstBlock + P.blocksPerGroup, P.blockEnd);
  for (uint block = firstBlock; block < lastBlock; ++block) {
    float m[ROWS], l[ROWS], t[ROWS];
    [[unroll]] for (uint r = 0; r < ROWS; ++r) {
      m[r] = NO_MAX;
      l[r] = 0.0;
      t[r] = 0.0;
    }
    uint jLo = max(blockCol[block], groupLo);
    uint jHi = min(blockCol[block + 1u], groupHi);

#if USE_SHUFFLE
    const uint lanes = gl_SubgroupSize;
    for (uint jb = jLo; jb < jHi; jb += lanes) {
      uint mine = min(jb + gl_SubgroupInvocationID, jHi - 1u);
      vec4 kv[D4];
      uint kOff = kBase + (mine - P.kCol0) * D4;
      [[unroll]] for (uint c = 0; c < D4; ++c) kv[c] = k[kOff + c];
      uint count = min(lanes, jHi - jb);
      for (uint u = 0; u < count; ++u) {
        float s[ROWS];
        [[unroll]] for (uint r = 0; r < ROWS; ++r) s[r] = 0.0;
        [[unroll]] for (uint c = 0; c < D4; ++c) {
          vec4 kc = subgroupShuffle(kv[c], u);
          [[unroll]] for (uint r = 0; r < ROWS; ++r) s[r] += dot(qv[r * D4 + c], kc);
        }
        uint j = jb + u;
#else
    for (uint jb = jLo; jb < jHi; jb += KT) {
      uint count = min(KT, jHi - jb);
      barrier();  // the previous tile is no longer being read
      for (uint e = gl_LocalInvocationID.x; e < count * D4; e += WG)
        ks[e] = k[kBase + (jb - P.kCol0) * D4 + e];
      barrier();  // the tile is complete before anyone reads it
      for (uint u = 0; u < count; ++u) {
        float s[ROWS];
        [[unroll]] for (uint r = 0; r < ROWS; ++r) s[r] = 0.0;
        [[unroll]] for (uint c = 0; c < D4; ++c) {
          vec4 kc = ks[u * D4 + c];
          [[unroll]] for (uint r = 0; r < ROWS; ++r) s[r] += dot(qv[r * D4 + c], kc);
        }
        uint j = jb + u;
#endif
        [[unroll]] for (uint r = 0; r < ROWS; ++r) {
          if (j >= lo[r] && j < hi[r]) {
            float x = s[r] * P.logitScale;
#if SOFTCAP
            x = softcapLogit(x, P.softcap, P.capScale);
#endif
            if (x > m[r]) {
              // Every earlier term moves to the new max: e^(m-x) scales it and (s - x) gains m - x.
              float e = exp(m[r] - x);
#if TRACK_ENTROPY
              t[r] = (t[r] + l[r] * (m[r] - x)) * e;
#endif
              l[r] = l[r] * e + 1.0;
              m[r] = x;
            } else {
              float e = exp(x - m[r]);
              l[r] += e;
#if TRACK_ENTROPY
              t[r] += e * (x - m[r]);
#endif
            }
          }
        }
      }
    }

    [[unroll]] for (uint r = 0; r < ROWS; ++r) {
      if (!valid[r]) continue;
      uint i = rowBase + r * WG + gl_LocalInvocationID.x;
      uint idx = (i - P.partRow0) * P.blockCount + block;
      vec4 st = vec4(m[r], l[r], t[r], 0.0);
      if (P.accumulate != 0u) st = mergeStats(part[idx], st);
      part[idx] = st;
    }
  }
}
