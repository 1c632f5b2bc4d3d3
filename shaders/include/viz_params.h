// Push constants of the figure's draw pipelines, shared by C++ (viz/figure_renderer.cpp)
// and GLSL (heatmap.*, overlay.*).
#ifndef ATTNSCOPE_VIZ_PARAMS_H
#define ATTNSCOPE_VIZ_PARAMS_H

#ifdef __cplusplus
#include <cstdint>
namespace attnscope::gpu {
using uint = uint32_t;
#endif

#define HEATMAP_MODE_MAP 0u
#define HEATMAP_MODE_COLORBAR 1u

struct HeatmapParams {
  float rectX, rectY, rectW, rectH;  // target rectangle in framebuffer pixels
  float fbW, fbH;                    // framebuffer size
  uint texW, texH;                   // tile image size in texels
  uint mode;                         // HEATMAP_MODE_*
  uint channel;                      // 0 max, 1 mean
  uint logScale;                     // 1: log10 scale between vmin and vmax
  uint colormapRow;                  // row of the colormap texture
  float vmin, vmax;
  uint maskedRGBA;                   // colour of cells with no unmasked key (packed RGBA8)
  uint normalize;                    // 1: observed / expected by distance from the diagonal
  float cellX0, cellY0;              // the cell at the image's texel (0, 0) corner
  float cellsPerTexel;
  uint expectedBlock;                // cells per diagonal band of the expected values
  uint expectedCenter;               // index of band 0 (the diagonal) in the expected image
  uint pad0;
};

struct OverlayParams {
  float fbW, fbH;
  float pad0, pad1;
};

#ifdef __cplusplus
}  // namespace attnscope::gpu
#endif
#endif
