// A quad covering params.rect, made from the vertex index alone (no vertex buffer).
#version 450
#extension GL_GOOGLE_include_directive : require
#include "viz_params.h"

layout(push_constant) uniform Push { HeatmapParams P; };
layout(location = 0) out vec2 uv;

void main() {
  const vec2 corners[6] = vec2[](vec2(0, 0), vec2(1, 0), vec2(0, 1), vec2(1, 0), vec2(1, 1), vec2(0, 1));
  vec2 c = corners[gl_VertexIndex];
  uv = c;
  vec2 px = vec2(P.rectX, P.rectY) + c * vec2(P.rectW, P.rectH);
  gl_Position = vec4(px / vec2(P.fbW, P.fbH) * 2.0 - 1.0, 0.0, 1.0);
}
