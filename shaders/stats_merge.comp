// Row statistics (m_i, l_i) from a row's block partials, when the blocks cover every key.
#version 450
#extension GL_GOOGLE_include_directive : require
#include "params.h"
#include "common.glsl"

layout(local_size_x = 64) in;
layout(std430, binding = 0) readonly buffer Partials { vec4 part[]; };
layout(std430, binding = 1) buffer Stats { vec4 stats[]; };
layout(push_constant) uniform Push { StatsMergeParams P; };

void main() {
  uint r = gl_GlobalInvocationID.x;
  if (r >= P.rowCount) return;
  uint base = (P.partRow0Offset + r) * P.blockCount;
  vec4 st = vec4(NO_MAX, 0.0, 0.0, 0.0);
  for (uint b = 0; b < P.blockCount; ++b) {
    vec4 pb = part[base + b];
    if (pb.y > 0.0) st = mergeStats(st, pb);
  }
  stats[P.statsOffset + r] = st;
}
