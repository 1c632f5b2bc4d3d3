// Row statistics (m_i, l_i, t_i) from a row's block partials, when the blocks cover every key.
// LANES invocations share a row: each merges every LANES-th block, then a tree in shared
// memory merges the lanes. With many rows (a 16k-token overview's strips) one lane per row
// is fastest; with few (a viewer strip's 256 rows of ~1000 blocks) one lane per row left most
// of the device waiting, so Kernels::statsMergeLanes gives those more.
#version 450
#extension GL_GOOGLE_include_directive : require
#include "params.h"
#include "common.glsl"

layout(local_size_x = 64) in;
layout(constant_id = SPEC_LANES_PER_ROW) const uint LANES = 1u;  // a power of two <= 64
layout(std430, binding = 0) readonly buffer Partials { vec4 part[]; };
layout(std430, binding = 1) buffer Stats { vec4 stats[]; };
layout(push_constant) uniform Push { StatsMergeParams P; };

shared vec4 lanes[64];

void main() {
  const uint ROWS_PER_GROUP = 64u / LANES;
  uint lane = gl_LocalInvocationID.x % LANES;
  // Groups stride over the rows: a strip may hold more rows than one dispatch has groups.
  for (uint r0 = gl_WorkGroupID.x * ROWS_PER_GROUP; r0 < P.rowCount; r0 += gl_NumWorkGroups.x * ROWS_PER_GROUP) {
    uint r = r0 + gl_LocalInvocationID.x / LANES;
    vec4 st = vec4(NO_MAX, 0.0, 0.0, 0.0);
    if (r < P.rowCount) {
      uint base = (P.partRow0Offset + r) * P.blockCount;
      for (uint b = lane; b < P.blockCount; b += LANES) {
        vec4 pb = part[base + b];
        if (pb.y > 0.0) st = mergeStats(st, pb);
      }
    }
    if (LANES > 1u) {
      lanes[gl_LocalInvocationID.x] = st;
      // Every lane's state is in shared memory before any lane merges it (and, from the
      // second row pass on, every lane has read the previous tree's result).
      barrier();
      for (uint s = LANES / 2u; s > 0u; s >>= 1u) {
        if (lane < s) lanes[gl_LocalInvocationID.x] = mergeStats(lanes[gl_LocalInvocationID.x], lanes[gl_LocalInvocationID.x + s]);
        barrier();  // this level is written before the next reads it
      }
      st = lanes[gl_LocalInvocationID.x];
      barrier();  // read before the next row pass overwrites it
    }
    if (r < P.rowCount && lane == 0u) stats[P.statsOffset + r] = st;
  }
}
