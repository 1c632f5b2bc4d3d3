// Constants and helpers every attnscope compute shader shares.
#ifndef ATTNSCOPE_COMMON_GLSL
#define ATTNSCOPE_COMMON_GLSL

// The "no key seen yet" maximum. Finite, so that exp(m_old - m_new) is 0 or 1, never NaN.
const float NO_MAX = -3.402823466e38;

// Keys that query i may attend to form one contiguous range for every mask we have:
// returns [lo, hi). The map is n x n; rows below queryBegin (a capture of the last queries
// only) have no keys at all.
uvec2 keyRange(uint i, uint n, uint kind, uint W, uint queryBegin) {
  if (i < queryBegin) return uvec2(0u, 0u);
  uint lo = 0u, hi = n;
  if (kind == MASK_CAUSAL) {
    hi = min(i + 1u, n);
  } else if (kind == MASK_WINDOW_CAUSAL) {
    hi = min(i + 1u, n);
    lo = (i + 1u > W) ? i + 1u - W : 0u;
  } else if (kind == MASK_WINDOW_BOTH) {
    lo = (i + 1u > W) ? i + 1u - W : 0u;
    hi = (W > n - i) ? n : i + W;
  }
  return uvec2(lo, hi);
}

// Soft-capped logit (Gemma-2's attn_logit_softcapping): the scaled dot product x becomes
// C tanh(x / C), then the temperature divides it (capScale = 1 / T). Only SOFTCAP variants
// call this, so uncapped maps pay nothing for it.
float softcapLogit(float x, float C, float capScale) { return C * tanh(x / C) * capScale; }

// Online-softmax states are vec4(m, l, t, 0): the max logit m, l = sum exp(s - m) and
// t = sum exp(s - m) (s - m), over the keys seen so far. From a row's full state,
// p_j = exp(s_j - m) / l and the row's entropy is log(l) - t / l.
// An empty state (l = 0) is the identity whatever its max says, so buffers can start as zeros.
vec4 rescaleStats(vec4 a, float m) {
  float e = exp(a.x - m);
  return vec4(m, a.y * e, (a.z + a.y * (a.x - m)) * e, 0.0);
}

vec4 mergeStats(vec4 a, vec4 b) {
  if (a.y == 0.0) return b;
  if (b.y == 0.0) return a;
  float m = max(a.x, b.x);
  vec4 ra = rescaleStats(a, m), rb = rescaleStats(b, m);
  return vec4(m, ra.y + rb.y, ra.z + rb.z, 0.0);
}

// Workgroup ids folded so that any contiguous run of dispatch order pairs a group from the
// start of the grid with its mirror from the end. Mesa's lavapipe hands each CPU thread a
// contiguous run of groups; with causal masks the work grows along the grid, and unfolded
// ids leave one core idle for half the time. On GPUs the fold is harmless.
uvec2 balancedGroupId() {
  uint gx = gl_NumWorkGroups.x, total = gx * gl_NumWorkGroups.y;
  uint linear = gl_WorkGroupID.y * gx + gl_WorkGroupID.x;
  uint logical = (linear & 1u) == 0u ? linear >> 1u : total - 1u - (linear >> 1u);
  return uvec2(logical % gx, logical / gx);
}

#endif
