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
// (C tanh(s / C), Gemma-2) before the temperature. CHUNK > 0 = chunked softmax: the logits of
// CHUNK keys are scored first, their max moves the running max once, and every cell then
// takes one exp2 with no branch (log2 e folded into the scale); 0 = the per-key online update.
// Which variant is fastest differs by device: compute/kernel_tuner.cpp times them.
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
#else
vec4 kv[D4];  // this lane's key of the current subgroup chunk
#endif

const float LOG2E = 1.4426950408889634;
const float LN2 = 0.6931471805599453;

// Component c of key u of the current chunk: from lane u (shuffle) or from shared memory.
vec4 keyPart(uint c, uint u) {
#if USE_SHUFFLE
  return subgroupShuffle(kv[c], u);
#else
  return ks[u * D4 + c];
#endif
}

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
#if CHUNK > 0 && !SOFTCAP
  const float scale2 = P.logitScale * LOG2E;
#endif

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
      uint kOff = kBase + (mine - P.kCol0) * D4;
      [[unroll]] for (uint c = 0; c < D4; ++c) kv[c] = k[kOff + c];
      uint count = min(lanes, jHi - jb);
#else
    for (uint jb = jLo; jb < jHi; jb += KT) {
      uint count = min(KT, jHi - jb);
      barrier();  // the previous tile is no longer being read
      for (uint e = gl_LocalInvocationID.x; e < count * D4; e += WG)
        ks[e] = k[kBase + (jb - P.kCol0) * D4 + e];
      barrier();  // the tile is complete before anyone reads it
#endif
#if CHUNK > 0
      // Logits in log2 units: x2 = x log2(e), so each cell's weight is one exp2.
      for (uint u0 = 0; u0 < count; u0 += CHUNK) {
        float x2[ROWS * CHUNK];
        [[unroll]] for (uint cu = 0; cu < CHUNK; ++cu) {
          uint u = min(u0 + cu, count - 1u);  // past the end: a repeat, masked below
          float s[ROWS];
          [[unroll]] for (uint r = 0; r < ROWS; ++r) s[r] = 0.0;
          [[unroll]] for (uint c = 0; c < D4; ++c) {
            vec4 kc = keyPart(c, u);
            [[unroll]] for (uint r = 0; r < ROWS; ++r) s[r] += dot(qv[r * D4 + c], kc);
          }
          uint j = jb + u0 + cu;
          [[unroll]] for (uint r = 0; r < ROWS; ++r) {
#if SOFTCAP
            float x = softcapLogit(s[r] * P.logitScale, P.softcap, P.capScale) * LOG2E;
#else
            float x = s[r] * scale2;
#endif
            x2[r * CHUNK + cu] = (u0 + cu < count && j >= lo[r] && j < hi[r]) ? x : NO_MAX;
          }
        }
        [[unroll]] for (uint r = 0; r < ROWS; ++r) {
          float cm = x2[r * CHUNK];
          [[unroll]] for (uint cu = 1; cu < CHUNK; ++cu) cm = max(cm, x2[r * CHUNK + cu]);
          if (cm == NO_MAX) continue;  // every key of the chunk is masked for this row
          if (cm > m[r]) {
            // Earlier terms move to the new max (m = NO_MAX: there are none, and e is 0).
            float e = exp2(m[r] - cm);
#if TRACK_ENTROPY
            t[r] = (t[r] + l[r] * (m[r] - cm)) * e;
#endif
            l[r] *= e;
            m[r] = cm;
          }
          [[unroll]] for (uint cu = 0; cu < CHUNK; ++cu) {
            float dx = x2[r * CHUNK + cu] - m[r];  // masked: -huge, so e is 0
            float e = exp2(dx);
            l[r] += e;
#if TRACK_ENTROPY
            t[r] += e * max(dx, -126.0);  // a masked cell adds 0, never 0 * -inf
#endif
          }
        }
      }
    }
#else
      for (uint u = 0; u < count; ++u) {
        float s[ROWS];
        [[unroll]] for (uint r = 0; r < ROWS; ++r) s[r] = 0.0;
        [[unroll]] for (uint c = 0; c < D4; ++c) {
          vec4 kc = keyPart(c, u);
          [[unroll]] for (uint r = 0; r < ROWS; ++r) s[r] += dot(qv[r * D4 + c], kc);
        }
        uint j = jb + u;
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
#endif

    [[unroll]] for (uint r = 0; r < ROWS; ++r) {
      if (!valid[r]) continue;
      uint i = rowBase + r * WG + gl_LocalInvocationID.x;
      uint idx = (i - P.partRow0) * P.blockCount + block;
#if CHUNK > 0
      // Back from log2 units: m = m2 ln 2, t = t2 ln 2 (an empty state keeps NO_MAX).
      vec4 st = vec4(l[r] > 0.0 ? m[r] * LN2 : NO_MAX, l[r], t[r] * LN2, 0.0);
#else
      vec4 st = vec4(m[r], l[r], t[r], 0.0);
#endif
      if (P.accumulate != 0u) st = mergeStats(part[idx], st);
      part[idx] = st;
    }
  }
}
