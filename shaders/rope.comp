// Rotary position embedding, in place: each pair (a, b) of a row at position pos turns by
// pos * base^(-2c / rotaryDims), with the angle reduced exactly (angle.glsl).
#version 450
#extension GL_GOOGLE_include_directive : require
#include "params.h"
#include "angle.glsl"

layout(local_size_x = 64) in;
layout(std430, binding = 0) readonly buffer Freq { uvec2 turns[]; };
layout(std430, binding = 1) buffer X { float x[]; };
layout(push_constant) uniform Push { RopeParams P; };

void main() {
  uint gid = gl_GlobalInvocationID.x;
  if (gid >= P.rowCount * P.pairs) return;
  uint row = gid / P.pairs, c = gid % P.pairs;
  float angle = exactAngle(P.rowBegin + row, turns[c]);
  float s = sin(angle), co = cos(angle);
  uint base = P.xSkip + row * P.dp;
  uint i0 = base + (P.halves != 0u ? c : 2u * c);
  uint i1 = base + (P.halves != 0u ? c + P.pairs : 2u * c + 1u);
  float a = x[i0], b = x[i1];
  x[i0] = a * co - b * s;
  x[i1] = a * s + b * co;
}
