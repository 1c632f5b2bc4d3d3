// Integer hashes shared by C++ and GLSL, so the CPU reference reproduces the synthetic
// inputs bit for bit (lowbias32 by Chris Wellons, a public-domain integer mixer).
#ifndef ATTNSCOPE_HASH_H
#define ATTNSCOPE_HASH_H

#ifdef __cplusplus
#include <cstdint>
namespace attnscope::gpu {
using uint = uint32_t;
#define ATTN_FN inline
#else
#define ATTN_FN
#endif

ATTN_FN uint hashMix(uint x) {
  x ^= x >> 16;
  x *= 0x7feb352du;
  x ^= x >> 15;
  x *= 0x846ca68bu;
  x ^= x >> 16;
  return x;
}

ATTN_FN uint hash2(uint a, uint b) { return hashMix(a ^ hashMix(b + 0x9e3779b9u)); }

ATTN_FN uint hash3(uint a, uint b, uint c) { return hash2(hash2(a, b), c); }

// Synthetic token at position i: 0 (BOS) at position 0 when asked for, else 1..vocab.
ATTN_FN uint syntheticToken(uint seed, uint i, uint vocab, uint bosFirst) {
  if (bosFirst != 0u && i == 0u) return 0u;
  return 1u + hash2(seed ^ 0x51ed270bu, i) % vocab;
}

// A uniform value in [-1, 1) with 24 exact bits: exact in float and in double alike.
ATTN_FN float hashUnit(uint h) { return float(h >> 8u) * (2.0f / 16777216.0f) - 1.0f; }

#ifdef __cplusplus
}  // namespace attnscope::gpu
#endif
#endif
