// Draws a figure with Vulkan: the heatmap texture through a colormap on a lin or log scale,
// the colour bar, and the overlay (axes, ticks, labels in a real font). One render pass;
// the same renderer draws into an offscreen image here and into a swapchain in the viewer.
#pragma once
#include <functional>
#include <memory>

#include "engine/buffer.h"
#include "engine/commands.h"
#include "engine/graphics_pipeline.h"
#include "engine/image.h"
#include "viz/figure.h"
#include "viz/font.h"
#include "shaders/include/viz_params.h"

namespace attnscope {

// One image drawn into a pixel rectangle (a whole figure's map, or one tile of the viewer).
struct HeatmapLayer {
  const Image* image;
  Rect px;
  Rect clip{0, 0, -1, -1};  // its own clip (small multiples); w < 0: the record() clip
  float cellX0 = 0, cellY0 = 0, cellsPerTexel = 1;  // cells of texel (0, 0), for normalising
};

// A picture that is not one map with axes: map panels (each with its own colormap, scale and
// range) under overlay geometry (text, rectangles) built with OverlayBuilder. Lessons draw
// these.
struct ScenePanel {
  const Image* image;  // RGBA32F (max, mean, logit, computed) like a MapJob image
  Rect px;
  HeatmapStyle style;
  ValueRange range;
  // GENERAL for a MapJob image whose compute writes are complete; SHADER_READ_ONLY_OPTIMAL
  // for one filled by uploadImage.
  VkImageLayout layout = VK_IMAGE_LAYOUT_GENERAL;
};
struct Scene {
  uint32_t width = 1280, height = 800;
  std::vector<ScenePanel> panels;
  std::vector<OverlayVertex> overlay;
};

class FigureRenderer {
 public:
  // finalLayout: what the colour attachment is left in (TRANSFER_SRC for PNG output,
  // PRESENT_SRC for a swapchain).
  FigureRenderer(Context& ctx, ShaderCompiler& compiler, VkFormat colorFormat,
                 VkImageLayout finalLayout);
  ~FigureRenderer();
  FigureRenderer(const FigureRenderer&) = delete;
  FigureRenderer& operator=(const FigureRenderer&) = delete;

  VkRenderPass renderPass() const { return renderPass_; }

  // Records the figure into `framebuffer` (spec.width x spec.height). `tiles` is an RGBA32F
  // MapJob image in GENERAL layout whose compute writes are complete (MapJob's last barrier).
  // `slot` picks one of the renderer's vertex buffers, which must not be in flight.
  void record(Recording& rec, VkFramebuffer framebuffer, const FigureSpec& spec,
              const Image& tiles, const ValueRange& range, uint32_t slot = 0);
  // Several layers, drawn in order and clipped to `clip` (the viewer's tiles).
  void record(Recording& rec, VkFramebuffer framebuffer, const FigureSpec& spec,
              const std::vector<HeatmapLayer>& layers, const Rect& clip, const ValueRange& range,
              uint32_t slot, const std::function<void(VkCommandBuffer)>& inPass = {});
  // A scene: panels first, overlay on top.
  void recordScene(Recording& rec, VkFramebuffer framebuffer, const Scene& scene, uint32_t slot = 0,
                   const std::function<void(VkCommandBuffer)>& inPass = {});
  const FontAtlas& font() const { return font_; }

 private:
  void beginPass(VkCommandBuffer cmd, VkFramebuffer framebuffer, uint32_t width, uint32_t height);
  gpu::HeatmapParams heatmapParams(uint32_t width, uint32_t height, const HeatmapStyle& style,
                                   const ValueRange& range) const;
  void drawHeatmapQuad(Recording& rec, gpu::HeatmapParams hp, const Image& image, VkImageLayout layout,
                       const Image& expected, const Rect& r, uint32_t mode);
  void drawOverlay(Recording& rec, const std::vector<OverlayVertex>& verts, uint32_t width, uint32_t height,
                   uint32_t slot);

  Context& ctx_;
  VkRenderPass renderPass_ = VK_NULL_HANDLE;
  std::unique_ptr<GraphicsPipeline> heatmap_, overlay_;
  FontAtlas font_;
  Image fontImage_, colormapImage_, noExpected_;
  Sampler nearest_, linear_;
  std::vector<Buffer> vertexBuffers_;
};

// A colour image with a framebuffer on it for a renderer's pass: where a figure is drawn
// offscreen (PNGs, pixels for Python, the viewer's warm-up draw).
class OffscreenTarget {
 public:
  OffscreenTarget(Context& ctx, VkRenderPass pass, uint32_t width, uint32_t height, VkFormat format,
                  VkImageUsageFlags extraUsage, const char* name);
  ~OffscreenTarget();
  OffscreenTarget(const OffscreenTarget&) = delete;
  OffscreenTarget& operator=(const OffscreenTarget&) = delete;
  VkFramebuffer framebuffer() const { return framebuffer_; }
  const Image& image() const { return image_; }

 private:
  Context& ctx_;
  Image image_;
  VkFramebuffer framebuffer_ = VK_NULL_HANDLE;
};

// Renders a figure to a PNG file, blocking: render pass into an offscreen RGBA8 image, copy
// to host memory, stb_image_write. Returns the value range that was used.
ValueRange renderFigurePng(Context& ctx, ShaderCompiler& compiler, const FigureSpec& spec,
                           const Image& tiles, const std::vector<float>& texels,
                           const std::string& path);
// The same with a renderer made for PNGs (R8G8B8A8_UNORM, TRANSFER_SRC): several figures
// share its font atlas and pipelines.
ValueRange renderFigurePng(Context& ctx, FigureRenderer& renderer, const FigureSpec& spec, const Image& tiles,
                           const std::vector<float>& texels, const std::string& path);

// The same figure as RGBA8 pixels (width x height x 4, rows from the top), not written
// anywhere: the Python package returns them. rangeUsed receives the value range chosen.
std::vector<uint8_t> renderFigureRgba(Context& ctx, FigureRenderer& renderer, const FigureSpec& spec, const Image& tiles,
                                      const std::vector<float>& texels, ValueRange* rangeUsed = nullptr);

// Renders scenes to PNG files with one renderer (the font is baked once for all of them).
class ScenePngWriter {
 public:
  ScenePngWriter(Context& ctx, ShaderCompiler& compiler);
  // With a renderer made for PNGs elsewhere (R8G8B8A8_UNORM, TRANSFER_SRC), shared.
  ScenePngWriter(Context& ctx, FigureRenderer& renderer);
  const FontAtlas& font() const { return renderer_->font(); }
  // Blocking; returns the RGBA8 pixels it wrote (tests look at them).
  std::vector<uint8_t> write(const Scene& scene, const std::string& path);

 private:
  Context& ctx_;
  std::unique_ptr<FigureRenderer> owned_;
  FigureRenderer* renderer_;
};

// Writes RGBA8 pixels to a PNG (through a temporary file renamed into place).
void writePng(const std::string& path, uint32_t width, uint32_t height, const uint8_t* rgba);
// The same PNG as bytes in memory (stb_image_write, as writePng).
std::vector<uint8_t> encodePng(uint32_t width, uint32_t height, const uint8_t* rgba);

}  // namespace attnscope
