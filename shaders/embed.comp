// Synthetic model input: token embedding + sinusoidal positional encoding,
//   PE[pos][2k] = sin(pos * w_k), PE[pos][2k+1] = cos(pos * w_k), w_k = 10000^(-2k/d_model).
// The angle is reduced exactly: the host gives w_k / 2pi as a 64-bit fixed-point fraction of
// a turn, so pos * w_k mod 2pi is exact in integer arithmetic even at pos = 10^6, where a
// float32 product pos * w_k would already be off by a tenth of a radian.
#version 450
#extension GL_GOOGLE_include_directive : require
#include "params.h"
#include "hash.h"
#include "angle.glsl"

layout(local_size_x = 64) in;
layout(std430, binding = 0) readonly buffer Freq { uvec2 turns[]; };  // (low, high) words
layout(std430, binding = 1) writeonly buffer X { float x[]; };
layout(push_constant) uniform Push { EmbedParams P; };

void main() {
  uint pairs = P.dModel / 2u;
  uint gid = gl_GlobalInvocationID.x;
  if (gid >= P.rowCount * pairs) return;
  uint local = gid / pairs;
  uint p = gid % pairs;
  uint pos = P.rowBegin + local;

  float angle = exactAngle(pos, turns[p]);
  float a = sin(angle), b = cos(angle);
  if (P.peOnly == 0u) {
    uint tok = syntheticToken(P.seed, pos, P.vocab, P.bosFirst);
    uint th = hash2(P.seed, tok);
    a += P.embScale * hashUnit(hash2(th, 2u * p));
    b += P.embScale * hashUnit(hash2(th, 2u * p + 1u));
  }
  x[local * P.dModel + 2u * p] = a;
  x[local * P.dModel + 2u * p + 1u] = b;
}
