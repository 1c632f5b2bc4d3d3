// Online softmax in pieces: for every (query row, column block) the max logit m_b,
// l_b = sum exp(s_ij - m_b) and t_b = sum exp(s_ij - m_b)(s_ij - m_b) over the block's unmasked
// keys (t gives the row entropy). With one block spanning all
// keys this is the row statistics pass; with one block per texel column it is the first
// half of the tile pass. It never stores the n^2 logits.
//
// Variants (-D): D4 = padded head dimension / 4, ROWS = query rows per invocation,
// KEYS_TEXEL = keys read through a texel buffer instead of a storage buffer,
// USE_SHUFFLE = lanes load different keys and broadcast them with subgroupShuffle (the fast
// path on lavapipe and GPUs alike); without it, keys are staged through shared memory.
// TRACK_ENTROPY = also accumulate t (costs 10-20 % on lavapipe; only the viewer's sweep and
// the row-entropy tests need it); without it t stays 0. SOFTCAP = logits are soft-capped
// (C tanh(s / C), Gemma-2) before the temperature. CHUNK > 1 = chunked softmax: the logits of
// CHUNK keys are scored first, their max moves the running max once, and every cell then
// takes one exp2 with no branch (log2 e folded into the scale). CHUNK = 1 = the per-key
// online update with one exp2 per cell and selects instead of a branch. 0 = the per-key
// update with an exp on each side of a branch: where lanes diverge (lavapipe runs both sides
// under a mask) that is two exps per cell.
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
#if KEYS_TEXEL
// Keys through a texel buffer: on lavapipe a texelFetch is a vector gather, while a storage
// buffer load whose address differs by lane is a loop over the lanes with a branch each.
layout(binding = 1) uniform samplerBuffer kTexels;
vec4 keyLoad(uint index) { return texelFetch(kTexels, int(index)); }
#else
layout(std430, binding = 1) readonly buffer KBuf { vec4 k[]; };
vec4 keyLoad(uint index) { return k[index]; }
#endif
layout(std430, binding = 2) readonly buffer BlockBounds { uint blockCol[]; };
layout(std430, binding = 3) buffer Partials { vec4 part[]; };
layout(push_constant) uniform Push { BlockStatsParams P; };

#if !USE_SHUFFLE
shared vec4 ks[KT * D4];
#else
vec4 kv[D4];  // this lane's key of the current subgroup chunk
#endif

// Per invocation: its query rows (loaded once and reused for every block this workgroup
// walks through: reloading them per block cost more memory traffic than the keys), each
// row's key range [lo, hi), and the current block's online-softmax state per row.
vec4 qv[ROWS * D4];
uint lo[ROWS], hi[ROWS];
bool valid[ROWS];  // the row lies in this dispatch (lanes past the end still run, for shuffles)
float m[ROWS], l[ROWS], t[ROWS];

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

// A cell's logit in log2 units (CHUNK > 0), so that each weight is one exp2.
float logit2(float s) {
#if SOFTCAP
  return softcapLogit(s * P.logitScale, P.softcap, P.capScale) * LOG2E;
#elif CHUNK == 1
  return s;  // the query rows were loaded times logitScale log2(e)
#else
  return s * (P.logitScale * LOG2E);
#endif
}

// The keys [from, to) of the current block into m, l, t, a subgroup's (or a shared tile's)
// keys at a time; from < to. checked = false: every row of this workgroup sees every key of
// the range, so no key is tested against a row's mask (the CHUNK = 1 update then drops its
// selects).
void walkKeys(uint from, uint to, const bool checked) {
  const uint WG = gl_WorkGroupSize.x;
  const uint kBase = P.kSkip / 4u;
#if USE_SHUFFLE
  const uint lanes = gl_SubgroupSize;
  // Do-whiles (here and below), not fors: from < to, and lavapipe runs a loop's body once
  // more under an all-off mask after the last lane leaves at the top (it checks for live
  // lanes only at the bottom), so a for paid a ninth key for every eight and a third chunk
  // for a block of two.
  uint jb = from;
  do {
    uint mine = min(jb + gl_SubgroupInvocationID, to - 1u);
    uint kOff = kBase + (mine - P.kCol0) * D4;
    [[unroll]] for (uint c = 0; c < D4; ++c) kv[c] = keyLoad(kOff + c);
    uint count = min(lanes, to - jb);
#else
  uint jb = from;
  do {
    uint count = min(KT, to - jb);
    barrier();  // the previous tile is no longer being read
    for (uint e = gl_LocalInvocationID.x; e < count * D4; e += WG)
      ks[e] = keyLoad(kBase + (jb - P.kCol0) * D4 + e);
    barrier();  // the tile is complete before anyone reads it
#endif
#if CHUNK > 1
      // Logits in log2 units: x2 = x log2(e), so each cell's weight is one exp2.
      uint u0 = 0;
      do {  // count >= 1: a do-while spares lavapipe a masked pass (see the per-key loop below)
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
            float x = logit2(s[r]);
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
      } while ((u0 += CHUNK) < count);
#if USE_SHUFFLE
  } while ((jb += lanes) < to);
#else
  } while ((jb += KT) < to);
#endif
#else
      // A do-while, not a for: count >= 1 here, and lavapipe runs a loop's body once more
      // under an all-off mask after the last lane leaves at the top (it only checks at the
      // bottom), so a for paid a ninth key for every eight (10-19 % of the row statistics).
      uint u = 0;
      do {
        float s[ROWS];
        [[unroll]] for (uint r = 0; r < ROWS; ++r) s[r] = 0.0;
        [[unroll]] for (uint c = 0; c < D4; ++c) {
          vec4 kc = keyPart(c, u);
          [[unroll]] for (uint r = 0; r < ROWS; ++r) s[r] += dot(qv[r * D4 + c], kc);
        }
        uint j = jb + u;
        [[unroll]] for (uint r = 0; r < ROWS; ++r) {
#if CHUNK == 1
          float x = logit2(s[r]);
          // 2^-|x - m| is the new term's weight when x is under the max, and every earlier
          // term's rescale when x is the new max (then each earlier x_i - m also loses x - m):
          // one exp2 serves both sides.
          float dx = x - m[r];
          float e = exp2(-abs(dx));
          bool up = dx > 0.0;
          bool seen = !checked || (j >= lo[r] && j < hi[r]);
#if TRACK_ENTROPY
          t[r] = seen ? (up ? fma(-l[r], dx, t[r]) * e : fma(e, dx, t[r])) : t[r];  // before l moves
#endif
          l[r] = seen ? (up ? fma(l[r], e, 1.0) : l[r] + e) : l[r];
          m[r] = seen ? max(m[r], x) : m[r];
#else
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
#endif
        }
      } while (++u < count);
#if USE_SHUFFLE
  } while ((jb += lanes) < to);
#else
  } while ((jb += KT) < to);
#endif
#endif
}

// Blocks [a, b) are sorted by their keys: the first one whose keys end after x, and the
// first one whose keys start at or after x (b if none). Uniform binary searches, a few
// loads per workgroup.
uint firstBlockEndingAfter(uint x, uint a, uint b) {
  while (a < b) {
    uint mid = (a + b) / 2u;
    if (blockCol[mid + 1u] > x) b = mid; else a = mid + 1u;
  }
  return a;
}

uint firstBlockStartingFrom(uint x, uint a, uint b) {
  while (a < b) {
    uint mid = (a + b) / 2u;
    if (blockCol[mid] >= x) b = mid; else a = mid + 1u;
  }
  return a;
}

void resetState() {
  [[unroll]] for (uint r = 0; r < ROWS; ++r) {
    m[r] = NO_MAX;
    l[r] = 0.0;
    t[r] = 0.0;
  }
}

// The partials of this invocation's rows for one block: st[r], merged with what is there
// when the dispatch accumulates over chunks of keys.
void storePartial(uint block, uint rowBase, uint r, vec4 st) {
  if (!valid[r]) return;
  uint i = rowBase + r * gl_WorkGroupSize.x + gl_LocalInvocationID.x;
  uint idx = (i - P.partRow0) * P.blockCount + block;
  if (P.accumulate != 0u) st = mergeStats(part[idx], st);
  part[idx] = st;
}

void storeBlockState(uint block, uint rowBase) {
  [[unroll]] for (uint r = 0; r < ROWS; ++r) {
#if CHUNK > 0
    // Back from log2 units: m = m2 ln 2, t = t2 ln 2 (an empty state keeps NO_MAX).
    vec4 st = vec4(l[r] > 0.0 ? m[r] * LN2 : NO_MAX, l[r], t[r] * LN2, 0.0);
#else
    vec4 st = vec4(m[r], l[r], t[r], 0.0);
#endif
    storePartial(block, rowBase, r, st);
  }
}

void main() {
  const uint WG = gl_WorkGroupSize.x;
  const uint rowEnd = P.rowBegin + P.rowCount;
  const uvec2 group = balancedGroupId();
  const uint rowBase = P.rowBegin + group.x * WG * ROWS;

#if CHUNK == 1 && !SOFTCAP
  const float qScale = P.logitScale * LOG2E;  // one multiply per query element, none per cell
#else
  const float qScale = 1.0;
#endif
  [[unroll]] for (uint r = 0; r < ROWS; ++r) {
    uint i = rowBase + r * WG + gl_LocalInvocationID.x;
    valid[r] = i < rowEnd;
    i = min(i, rowEnd - 1u);  // stay in bounds but keep every lane running: shuffles need them
    uvec2 range = keyRange(i, P.n, P.maskKind, P.window, P.queryBegin);
    lo[r] = range.x;
    hi[r] = range.y;
    uint qOff = P.qSkip / 4u + (i - P.rowBegin) * D4;
    [[unroll]] for (uint c = 0; c < D4; ++c) qv[r * D4 + c] = q[qOff + c] * qScale;
  }
  // Key ranges grow with the row for every mask: the rows of this workgroup together see
  // [lo(first row), hi(last row)), and each of them sees [lo(last row), hi(first row)).
  uint lastRow = min(rowBase + WG * ROWS, rowEnd) - 1u;
  uvec2 firstRange = keyRange(rowBase, P.n, P.maskKind, P.window, P.queryBegin);
  uvec2 lastRange = keyRange(lastRow, P.n, P.maskKind, P.window, P.queryBegin);
  uint groupLo = max(P.colBegin, firstRange.x);
  uint groupHi = min(P.colEnd, lastRange.y);

  uint firstBlock = P.blockFirst + group.y * P.blocksPerGroup;
  uint lastBlock = min(firstBlock + P.blocksPerGroup, P.blockEnd);
  // The blocks fall into runs by what this workgroup's rows see of them (block bounds are
  // sorted, and the host makes every block non-empty):
  //   [firstBlock, b1) and [b4, lastBlock): no key any row sees (empty states),
  //   [b1, b2) and [b3, b4): some keys some rows see (each key tested against each row),
  //   [b2, b3): keys every row sees (no test: the whole block for no mask, all but the
  //   diagonal band for causal).
  // A loop per kind of run, not per block: lavapipe runs every piece of code at least once
  // (masked), so three walks per block (before, inside, after the all-rows range) cost two
  // empty chunks per block: at 16 keys a block, as much again as the keys themselves.
  uint b1 = firstBlockEndingAfter(groupLo, firstBlock, lastBlock);
  uint b4 = groupLo < groupHi ? max(b1, firstBlockStartingFrom(groupHi, b1, lastBlock)) : b1;
  uint allLo = max(lastRange.x, groupLo), allHi = min(firstRange.y, groupHi);
  uint b2 = b4, b3 = b4;
  if (allLo < allHi) {
    b2 = firstBlockStartingFrom(allLo, b1, b4);
    b3 = firstBlockEndingAfter(allHi, b2, b4);
  }

  const uint emptyBefore = b1 - firstBlock;
  for (uint e = 0; e < emptyBefore + (lastBlock - b4); ++e) {
    uint block = e < emptyBefore ? firstBlock + e : b4 + (e - emptyBefore);
    [[unroll]] for (uint r = 0; r < ROWS; ++r) storePartial(block, rowBase, r, vec4(NO_MAX, 0.0, 0.0, 0.0));
  }
#if CHUNK == 1
  const uint checkedBefore = b2 - b1;
  for (uint e = 0; e < checkedBefore + (b4 - b3); ++e) {
    uint block = e < checkedBefore ? b1 + e : b3 + (e - checkedBefore);
    resetState();
    walkKeys(max(blockCol[block], groupLo), min(blockCol[block + 1u], groupHi), true);
    storeBlockState(block, rowBase);
  }
  for (uint block = b2; block < b3; ++block) {
    resetState();
    walkKeys(blockCol[block], blockCol[block + 1u], false);
    storeBlockState(block, rowBase);
  }
#else
  // The other updates test every key against its row's mask anyway: one loop, one inlined
  // walk (with shared-memory keys and a chunk of 8 at d = 200, a second copy made lavapipe's
  // compile of the barriers' coroutine frame take minutes).
  for (uint block = b1; block < b4; ++block) {
    resetState();
    walkKeys(max(blockCol[block], groupLo), min(blockCol[block + 1u], groupHi), true);
    storeBlockState(block, rowBase);
  }
#endif
}
