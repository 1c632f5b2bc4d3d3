// Text, axes, ticks and frames: coloured quads in pixel coordinates.
#version 450
#extension GL_GOOGLE_include_directive : require
#include "viz_params.h"

layout(push_constant) uniform Push { OverlayParams P; };
layout(location = 0) in vec2 pos;
layout(location = 1) in vec2 uvIn;
layout(location = 2) in vec4 colorIn;
layout(location = 0) out vec2 uv;
layout(location = 1) out vec4 tint;

void main() {
  uv = uvIn;
  tint = colorIn;
  gl_Position = vec4(pos / vec2(P.fbW, P.fbH) * 2.0 - 1.0, 0.0, 1.0);
}
