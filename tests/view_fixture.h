// Small helpers for the tests of the viewer's parts.
#pragma once
#include <cstdint>

#include "viz/camera.h"

namespace attnscope::test {

// A camera of w x h pixels over an n x n map, as a fresh viewer starts.
inline Camera cameraOver(uint32_t n, double w, double h) {
  Camera c;
  c.setViewport(w, h);
  c.setMapSize(n);
  return c;
}

}  // namespace attnscope::test
