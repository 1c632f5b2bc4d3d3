// Texels from block partials and row statistics: for the cells a texel covers, the max of
// p_ij and the mean of p_ij (masked cells count as 0), exactly, with no sampling. A texel
// whose rows are split across dispatches is accumulated into. Channels: r = max p, g = mean p,
// b = max logit over unmasked cells (the logit itself at one cell per texel), a = 1 once the
// texel has been computed. The image starts cleared to (0, 0, NO_MAX, 0).
#version 450
#extension GL_GOOGLE_include_directive : require
#include "params.h"
#include "common.glsl"

// A row of texels per workgroup: on lavapipe 16 x 8 took 1.6x as long as 64 x 1.
layout(local_size_x = 64, local_size_y = 1) in;
layout(std430, binding = 0) readonly buffer Partials { vec4 part[]; };
layout(std430, binding = 1) readonly buffer Stats { vec4 stats[]; };
layout(std430, binding = 2) readonly buffer RowBounds { uint texRow[]; };
layout(std430, binding = 3) readonly buffer ColBounds { uint blockCol[]; };
layout(binding = 4, rgba32f) uniform image2D tiles;
layout(push_constant) uniform Push { TileReduceParams P; };

void main() {
  uint tx = gl_GlobalInvocationID.x;
  uint tyLocal = gl_GlobalInvocationID.y;
  if (tx >= P.texColCount || tyLocal >= P.texRowCount) return;
  uint ty = P.texRowFirst + tyLocal;
  uint r0 = max(texRow[ty], P.rowBegin);
  uint r1 = min(texRow[ty + 1u], P.rowEnd);
  if (r0 >= r1) return;
  float pMax = 0.0, pSum = 0.0, sMax = NO_MAX;
  for (uint i = r0; i < r1; ++i) {
    vec4 pb = part[(i - P.partRow0) * P.texColCount + tx];
    if (pb.y <= 0.0) continue;  // every key of this block is masked for row i
    vec4 st = stats[i - P.statsRow0];
    float e = exp(pb.x - st.x) / st.y;
    pMax = max(pMax, e);
    sMax = max(sMax, pb.x);
    pSum += e * pb.y;
  }
  float cells = float(texRow[ty + 1u] - texRow[ty]) * float(blockCol[tx + 1u] - blockCol[tx]);
  vec4 old = imageLoad(tiles, ivec2(tx, ty));
  imageStore(tiles, ivec2(tx, ty), vec4(max(old.x, pMax), old.y + pSum / cells, max(old.z, sMax), 1.0));
}
