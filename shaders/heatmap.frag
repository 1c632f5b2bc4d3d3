// The heatmap: each pixel shows the texel under it exactly (texelFetch, no filtering), mapped
// through the colormap on a linear or log scale. Cells with no unmasked key get their own
// colour, so a mask is never mistaken for a small weight. Also draws the colour bar.
#version 450
#extension GL_GOOGLE_include_directive : require
#include "viz_params.h"

layout(push_constant) uniform Push { HeatmapParams P; };
layout(binding = 0) uniform sampler2D tiles;
layout(binding = 1) uniform sampler2D colormaps;
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
    t = normalised(P.channel == 0u ? cell.x : cell.y);
  }
  int index = int(clamp(t, 0.0, 1.0) * 255.0 + 0.5);
  color = vec4(texelFetch(colormaps, ivec2(index, int(P.colormapRow)), 0).rgb, 1.0);
}
