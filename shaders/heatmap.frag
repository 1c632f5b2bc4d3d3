// The heatmap: each pixel shows the texel under it exactly (texelFetch, no filtering), mapped
// through the colormap on a linear or log scale. Cells with no unmasked key get their own
// colour, so a mask is never mistaken for a small weight. Also draws the colour bar.
#version 450
#extension GL_GOOGLE_include_directive : require
#include "viz_params.h"

layout(push_constant) uniform Push { HeatmapParams P; };
layout(binding = 0) uniform sampler2D tiles;
layout(binding = 1) uniform sampler2D colormaps;
layout(binding = 2) uniform sampler2D expected;  // mean p per diagonal band (R32F, one row)
layout(location = 0) in vec2 uv;
layout(location = 0) out vec4 color;

const float MASKED_LOGIT = -1.0e38;

float normalised(float v) {
  if (P.logScale != 0u) {
    float lo = log(P.vmin), hi = log(P.vmax);
    return (log(max(v, 1e-38)) - lo) / max(hi - lo, 1e-30);
  }
  return (v - P.vmin) / max(P.vmax - P.vmin, 1e-30);
}

vec4 unpackColor(uint c) {
  return vec4(float(c & 255u), float((c >> 8) & 255u), float((c >> 16) & 255u), float(c >> 24)) / 255.0;
}

void main() {
  float t;
  if (P.mode == HEATMAP_MODE_COLORBAR) {
    t = 1.0 - uv.y;  // high values at the top
  } else {
    // gl_FragCoord gives the pixel centre; which texel it falls in is exact integer math.
    vec2 local = (gl_FragCoord.xy - vec2(P.rectX, P.rectY)) / vec2(P.rectW, P.rectH);
    ivec2 texel = clamp(ivec2(floor(local * vec2(P.texW, P.texH))), ivec2(0), ivec2(P.texW - 1u, P.texH - 1u));
    vec4 cell = texelFetch(tiles, texel, 0);
    if (cell.w == 0.0) discard;  // not computed yet: whatever is drawn below shows through
    if (cell.z < MASKED_LOGIT) {
      color = unpackColor(P.maskedRGBA);
      return;
    }
    float v = P.channel == 0u ? cell.x : cell.y;
    if (P.normalize != 0u) {
      // The band of the cell at this texel's centre: its distance from the diagonal.
      float ci = P.cellY0 + (float(texel.y) + 0.5) * P.cellsPerTexel;
      float cj = P.cellX0 + (float(texel.x) + 0.5) * P.cellsPerTexel;
      int band = int(floor(cj / float(P.expectedBlock))) - int(floor(ci / float(P.expectedBlock)));
      int last = int(textureSize(expected, 0).x) - 1;
      float e = texelFetch(expected, ivec2(clamp(band + int(P.expectedCenter), 0, last), 0), 0).r;
      v = e > 0.0 ? v / e : 0.0;
    }
    t = normalised(v);
  }
  int index = int(clamp(t, 0.0, 1.0) * 255.0 + 0.5);
  color = vec4(texelFetch(colormaps, ivec2(index, int(P.colormapRow)), 0).rgb, 1.0);
}
