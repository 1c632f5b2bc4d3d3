#include "viz/figure_renderer.h"

#include <stb_image_write.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>

#include "engine/barriers.h"
#include "engine/context.h"
#include "engine/vk_check.h"
#include "shaders/include/viz_params.h"
#include "viz/colormap.h"

namespace attnscope {

static_assert(sizeof(gpu::HeatmapParams) == 22 * 4);
static_assert(sizeof(gpu::OverlayParams) == 4 * 4);

FigureRenderer::FigureRenderer(Context& ctx, ShaderCompiler& compiler, VkFormat colorFormat,
                               VkImageLayout finalLayout)
    : ctx_(ctx), nearest_(ctx, VK_FILTER_NEAREST), linear_(ctx, VK_FILTER_LINEAR) {
  VkAttachmentDescription att{};
  att.format = colorFormat;
  att.samples = VK_SAMPLE_COUNT_1_BIT;
  att.loadOp = VK_ATTACHMENT_LOAD_OP_CLEAR;
  att.storeOp = VK_ATTACHMENT_STORE_OP_STORE;
  att.stencilLoadOp = VK_ATTACHMENT_LOAD_OP_DONT_CARE;
  att.stencilStoreOp = VK_ATTACHMENT_STORE_OP_DONT_CARE;
  att.initialLayout = VK_IMAGE_LAYOUT_UNDEFINED;
  att.finalLayout = finalLayout;
  VkAttachmentReference ref{0, VK_IMAGE_LAYOUT_COLOR_ATTACHMENT_OPTIMAL};
  VkSubpassDescription sub{};
  sub.pipelineBindPoint = VK_PIPELINE_BIND_POINT_GRAPHICS;
  sub.colorAttachmentCount = 1;
  sub.pColorAttachments = &ref;
  // Compute writes to the tile image happen before the fragment shader samples it; the
  // attachment's previous use (a copy out, or presentation) finishes before it is cleared.
  VkSubpassDependency deps[2]{};
  deps[0].srcSubpass = VK_SUBPASS_EXTERNAL;
  deps[0].dstSubpass = 0;
  deps[0].srcStageMask = VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_COLOR_ATTACHMENT_OUTPUT_BIT;
  deps[0].srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT;
  deps[0].dstStageMask = VK_PIPELINE_STAGE_FRAGMENT_SHADER_BIT | VK_PIPELINE_STAGE_COLOR_ATTACHMENT_OUTPUT_BIT;
  deps[0].dstAccessMask = VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_COLOR_ATTACHMENT_WRITE_BIT;
  // The attachment is written before a copy reads it out.
  deps[1].srcSubpass = 0;
  deps[1].dstSubpass = VK_SUBPASS_EXTERNAL;
  deps[1].srcStageMask = VK_PIPELINE_STAGE_COLOR_ATTACHMENT_OUTPUT_BIT;
  deps[1].srcAccessMask = VK_ACCESS_COLOR_ATTACHMENT_WRITE_BIT;
  deps[1].dstStageMask = VK_PIPELINE_STAGE_TRANSFER_BIT;
  deps[1].dstAccessMask = VK_ACCESS_TRANSFER_READ_BIT;
  VkRenderPassCreateInfo rp{VK_STRUCTURE_TYPE_RENDER_PASS_CREATE_INFO};
  rp.attachmentCount = 1;
  rp.pAttachments = &att;
  rp.subpassCount = 1;
  rp.pSubpasses = &sub;
  rp.dependencyCount = 2;
  rp.pDependencies = deps;
  VK_CHECK(vkCreateRenderPass(ctx.device(), &rp, nullptr, &renderPass_));

  try {
    heatmap_ = std::make_unique<GraphicsPipeline>(
        ctx, compiler,
        GraphicsPipelineDesc{"heatmap.vert", "heatmap.frag", {}, 0, false, 3,
                             sizeof(gpu::HeatmapParams), renderPass_, "heatmap"});
    overlay_ = std::make_unique<GraphicsPipeline>(
        ctx, compiler,
        GraphicsPipelineDesc{"overlay.vert",
                             "overlay.frag",
                             {{0, 0, VK_FORMAT_R32G32_SFLOAT, 0},
                              {1, 0, VK_FORMAT_R32G32_SFLOAT, 8},
                              {2, 0, VK_FORMAT_R8G8B8A8_UNORM, 16}},
                             sizeof(OverlayVertex),
                             true,
                             1,
                             sizeof(gpu::OverlayParams),
                             renderPass_,
                             "overlay"});
    fontImage_ = Image(ctx, font_.width(), font_.height(), VK_FORMAT_R8_UNORM,
                       VK_IMAGE_USAGE_SAMPLED_BIT | VK_IMAGE_USAGE_TRANSFER_DST_BIT, "font atlas");
    uploadImage(ctx, fontImage_, font_.pixels().data(), font_.pixels().size());
    const Colormaps& maps = Colormaps::get();
    colormapImage_ = Image(ctx, 256, uint32_t(maps.names().size()), VK_FORMAT_R8G8B8A8_UNORM,
                           VK_IMAGE_USAGE_SAMPLED_BIT | VK_IMAGE_USAGE_TRANSFER_DST_BIT, "colormaps");
    uploadImage(ctx, colormapImage_, maps.texture().data(), maps.texture().size());
    float one = 1.0f;  // "expected" when nothing is normalised
    noExpected_ = Image(ctx, 1, 1, VK_FORMAT_R32_SFLOAT, VK_IMAGE_USAGE_SAMPLED_BIT | VK_IMAGE_USAGE_TRANSFER_DST_BIT, "no expected");
    uploadImage(ctx, noExpected_, &one, 4);
  } catch (...) {
    heatmap_.reset();
    overlay_.reset();
    vkDestroyRenderPass(ctx.device(), renderPass_, nullptr);
    throw;
  }
}

FigureRenderer::~FigureRenderer() {
  heatmap_.reset();
  overlay_.reset();
  if (renderPass_) vkDestroyRenderPass(ctx_.device(), renderPass_, nullptr);
}

void FigureRenderer::record(Recording& rec, VkFramebuffer framebuffer, const FigureSpec& spec,
                            const Image& tiles, const ValueRange& range, uint32_t slot) {
  FigureLayout layout = layoutFigure(spec.width, spec.height);
  record(rec, framebuffer, spec, {{&tiles, layout.plot}}, layout.plot, range, slot);
}

void FigureRenderer::record(Recording& rec, VkFramebuffer framebuffer, const FigureSpec& spec,
                            const std::vector<HeatmapLayer>& layers, const Rect& clip,
                            const ValueRange& range, uint32_t slot,
                            const std::function<void(VkCommandBuffer)>& inPass) {
  VkCommandBuffer cmd = rec.cmd;
  FigureLayout layout = layoutFigure(spec.width, spec.height, spec.strips);
  OverlayBuilder overlay(font_);
  buildFigureOverlay(overlay, spec, layout, range);
  if (spec.strips && spec.extraOverlay) spec.extraOverlay(overlay, layout);
  const auto& verts = overlay.vertices();

  TimedScope timed(rec, "draw");
  beginPass(cmd, framebuffer, spec.width, spec.height);
  VkRect2D scissor{{0, 0}, {spec.width, spec.height}};

  // Heatmap layers and the colour bar.
  vkCmdBindPipeline(cmd, VK_PIPELINE_BIND_POINT_GRAPHICS, heatmap_->pipeline());
  gpu::HeatmapParams hp = heatmapParams(spec.width, spec.height, spec.style, range);
  const Image& expected = spec.normalize && spec.expected ? *spec.expected : noExpected_;
  hp.normalize = spec.normalize && spec.expected ? 1 : 0;
  hp.expectedBlock = std::max(1u, spec.expectedBlock);
  hp.expectedCenter = spec.expectedCenter;
  auto drawRect = [&](const Image& image, const Rect& r, uint32_t mode) {
    drawHeatmapQuad(rec, hp, image, VK_IMAGE_LAYOUT_GENERAL, expected, r, mode);
  };
  auto setScissor = [&](const Rect& r) {
    int32_t x0 = std::clamp(int32_t(std::floor(r.x)), 0, int32_t(spec.width));
    int32_t y0 = std::clamp(int32_t(std::floor(r.y)), 0, int32_t(spec.height));
    int32_t x1 = std::clamp(int32_t(std::ceil(r.x + r.w)), x0, int32_t(spec.width));
    int32_t y1 = std::clamp(int32_t(std::ceil(r.y + r.h)), y0, int32_t(spec.height));
    VkRect2D s{{x0, y0}, {uint32_t(x1 - x0), uint32_t(y1 - y0)}};
    vkCmdSetScissor(cmd, 0, 1, &s);
  };
  for (const HeatmapLayer& layer : layers) {
    if (!layer.image || layer.px.w <= 0 || layer.px.h <= 0) continue;
    setScissor(layer.clip.w >= 0 ? layer.clip : clip);
    hp.cellX0 = layer.cellX0;
    hp.cellY0 = layer.cellY0;
    hp.cellsPerTexel = layer.cellsPerTexel;
    drawRect(*layer.image, layer.px, HEATMAP_MODE_MAP);
  }
  vkCmdSetScissor(cmd, 0, 1, &scissor);
  if (!layers.empty() && layers.front().image) drawRect(*layers.front().image, layout.colorbar, HEATMAP_MODE_COLORBAR);

  drawOverlay(rec, verts, spec.width, spec.height, slot);
  if (inPass) inPass(cmd);  // e.g. the viewer's control panel, on top
  vkCmdEndRenderPass(cmd);
}

gpu::HeatmapParams FigureRenderer::heatmapParams(uint32_t width, uint32_t height, const HeatmapStyle& style,
                                                 const ValueRange& range) const {
  gpu::HeatmapParams hp{};
  hp.fbW = float(width);
  hp.fbH = float(height);
  hp.channel = style.channel == kChannelMax ? 0 : 1;
  hp.logScale = style.logScale ? 1 : 0;
  hp.colormapRow = Colormaps::get().index(style.colormap);
  hp.vmin = float(range.vmin);
  hp.vmax = float(range.vmax);
  hp.maskedRGBA = kMaskedColor;
  hp.expectedBlock = 1;
  hp.cellsPerTexel = 1;
  return hp;
}

// One textured quad of the heatmap pipeline: the image's texels into rect r, through the
// colormap (or as the colour bar), with `expected` for observed / expected maps.
void FigureRenderer::drawHeatmapQuad(Recording& rec, gpu::HeatmapParams hp, const Image& image, VkImageLayout layout,
                                     const Image& expected, const Rect& r, uint32_t mode) {
  VkDescriptorSet set = rec.arena.allocate(heatmap_->setLayout());
  rec.arena.write(set, {VK_DESCRIPTOR_TYPE_COMBINED_IMAGE_SAMPLER, VK_DESCRIPTOR_TYPE_COMBINED_IMAGE_SAMPLER,
                        VK_DESCRIPTOR_TYPE_COMBINED_IMAGE_SAMPLER},
                  {Binding::sampled(image.view(), nearest_.handle(), layout),
                   Binding::sampled(colormapImage_.view(), nearest_.handle(), VK_IMAGE_LAYOUT_SHADER_READ_ONLY_OPTIMAL),
                   Binding::sampled(expected.view(), nearest_.handle(), VK_IMAGE_LAYOUT_SHADER_READ_ONLY_OPTIMAL)},
                  "heatmap");
  vkCmdBindDescriptorSets(rec.cmd, VK_PIPELINE_BIND_POINT_GRAPHICS, heatmap_->layout(), 0, 1, &set, 0, nullptr);
  hp.texW = image.width();
  hp.texH = image.height();
  hp.rectX = r.x;
  hp.rectY = r.y;
  hp.rectW = r.w;
  hp.rectH = r.h;
  hp.mode = mode;
  vkCmdPushConstants(rec.cmd, heatmap_->layout(), VK_SHADER_STAGE_VERTEX_BIT | VK_SHADER_STAGE_FRAGMENT_BIT, 0,
                     sizeof hp, &hp);
  vkCmdDraw(rec.cmd, 6, 1, 0, 0);
}

void FigureRenderer::beginPass(VkCommandBuffer cmd, VkFramebuffer framebuffer, uint32_t width, uint32_t height) {
  VkClearValue clear{};
  clear.color = {{1.0f, 1.0f, 1.0f, 1.0f}};
  VkRenderPassBeginInfo bi{VK_STRUCTURE_TYPE_RENDER_PASS_BEGIN_INFO};
  bi.renderPass = renderPass_;
  bi.framebuffer = framebuffer;
  bi.renderArea = {{0, 0}, {width, height}};
  bi.clearValueCount = 1;
  bi.pClearValues = &clear;
  vkCmdBeginRenderPass(cmd, &bi, VK_SUBPASS_CONTENTS_INLINE);
  VkViewport vp{0, 0, float(width), float(height), 0, 1};
  VkRect2D scissor{{0, 0}, {width, height}};
  vkCmdSetViewport(cmd, 0, 1, &vp);
  vkCmdSetScissor(cmd, 0, 1, &scissor);
}

void FigureRenderer::drawOverlay(Recording& rec, const std::vector<OverlayVertex>& verts, uint32_t width,
                                 uint32_t height, uint32_t slot) {
  if (verts.empty()) return;
  VkCommandBuffer cmd = rec.cmd;
  if (vertexBuffers_.size() <= slot) vertexBuffers_.resize(slot + 1);
  Buffer& vb = vertexBuffers_[slot];
  uint64_t bytes = std::max<uint64_t>(verts.size() * sizeof(OverlayVertex), 64);
  if (!vb || vb.size() < bytes)
    vb = Buffer(ctx_, bytes * 2, VK_BUFFER_USAGE_VERTEX_BUFFER_BIT, MemoryUse::Upload, "overlay vertices");
  std::memcpy(vb.mapped(), verts.data(), verts.size() * sizeof(OverlayVertex));
  vb.flush();
  VkDescriptorSet os = rec.arena.allocate(overlay_->setLayout());
  rec.arena.write(os, {VK_DESCRIPTOR_TYPE_COMBINED_IMAGE_SAMPLER},
                  {Binding::sampled(fontImage_.view(), linear_.handle(), VK_IMAGE_LAYOUT_SHADER_READ_ONLY_OPTIMAL)},
                  "overlay");
  vkCmdBindPipeline(cmd, VK_PIPELINE_BIND_POINT_GRAPHICS, overlay_->pipeline());
  vkCmdBindDescriptorSets(cmd, VK_PIPELINE_BIND_POINT_GRAPHICS, overlay_->layout(), 0, 1, &os, 0, nullptr);
  gpu::OverlayParams op{float(width), float(height), 0, 0};
  vkCmdPushConstants(cmd, overlay_->layout(), VK_SHADER_STAGE_VERTEX_BIT | VK_SHADER_STAGE_FRAGMENT_BIT, 0,
                     sizeof op, &op);
  VkDeviceSize offset = 0;
  VkBuffer vbh = vb.handle();
  vkCmdBindVertexBuffers(cmd, 0, 1, &vbh, &offset);
  vkCmdDraw(cmd, uint32_t(verts.size()), 1, 0, 0);
}

void FigureRenderer::recordScene(Recording& rec, VkFramebuffer framebuffer, const Scene& scene, uint32_t slot,
                                 const std::function<void(VkCommandBuffer)>& inPass) {
  VkCommandBuffer cmd = rec.cmd;
  TimedScope timed(rec, "draw");
  beginPass(cmd, framebuffer, scene.width, scene.height);
  if (!scene.panels.empty()) vkCmdBindPipeline(cmd, VK_PIPELINE_BIND_POINT_GRAPHICS, heatmap_->pipeline());
  for (const ScenePanel& p : scene.panels) {
    if (!p.image || p.px.w <= 0 || p.px.h <= 0) continue;
    gpu::HeatmapParams hp = heatmapParams(scene.width, scene.height, p.style, p.range);
    drawHeatmapQuad(rec, hp, *p.image, p.layout, noExpected_, p.px, HEATMAP_MODE_MAP);
  }
  drawOverlay(rec, scene.overlay, scene.width, scene.height, slot);
  if (inPass) inPass(cmd);
  vkCmdEndRenderPass(cmd);
}

void writePng(const std::string& path, uint32_t width, uint32_t height, const uint8_t* rgba) {
  namespace fs = std::filesystem;
  fs::path dir = fs::absolute(path).parent_path();
  std::error_code ec;
  if (!fs::is_directory(dir, ec))
    throw Error("cannot write '" + path + "': folder " + dir.string() + " does not exist");
  std::string partial = path + ".partial";
  if (!stbi_write_png(partial.c_str(), int(width), int(height), 4, rgba, int(width * 4))) {
    std::remove(partial.c_str());
    throw Error("cannot write '" + path + "': " + std::strerror(errno));
  }
  fs::rename(partial, path, ec);
  if (ec) throw Error("cannot rename '" + partial + "' to '" + path + "': " + ec.message());
}

OffscreenTarget::OffscreenTarget(Context& ctx, VkRenderPass pass, uint32_t width, uint32_t height, VkFormat format,
                                 VkImageUsageFlags usage, const char* name)
    : ctx_(ctx), image_(ctx, width, height, format, VK_IMAGE_USAGE_COLOR_ATTACHMENT_BIT | usage, name) {
  VkImageView view = image_.view();
  VkFramebufferCreateInfo fi{VK_STRUCTURE_TYPE_FRAMEBUFFER_CREATE_INFO};
  fi.renderPass = pass;
  fi.attachmentCount = 1;
  fi.pAttachments = &view;
  fi.width = width;
  fi.height = height;
  fi.layers = 1;
  VK_CHECK(vkCreateFramebuffer(ctx.device(), &fi, nullptr, &framebuffer_));
}

OffscreenTarget::~OffscreenTarget() {
  if (framebuffer_) vkDestroyFramebuffer(ctx_.device(), framebuffer_, nullptr);
}

namespace {

// Renders with `draw` into an offscreen RGBA8 image and returns its pixels (blocking).
std::vector<uint8_t> renderOffscreen(Context& ctx, FigureRenderer& renderer, uint32_t width, uint32_t height,
                                     const std::function<void(Recording&, VkFramebuffer)>& draw) {
  OffscreenTarget target(ctx, renderer.renderPass(), width, height, VK_FORMAT_R8G8B8A8_UNORM,
                         VK_IMAGE_USAGE_TRANSFER_SRC_BIT, "figure");
  uint64_t bytes = uint64_t(width) * height * 4;
  std::vector<uint8_t> pixels(bytes);
  Buffer readback(ctx, bytes, VK_BUFFER_USAGE_TRANSFER_DST_BIT, MemoryUse::Readback, "figure readback");
  CommandStream stream(ctx, false);
  Recording rec = stream.begin();
  draw(rec, target.framebuffer());
  VkBufferImageCopy c{};
  c.imageSubresource = {VK_IMAGE_ASPECT_COLOR_BIT, 0, 0, 1};
  c.imageExtent = {width, height, 1};
  vkCmdCopyImageToBuffer(rec.cmd, target.image().handle(), VK_IMAGE_LAYOUT_TRANSFER_SRC_OPTIMAL, readback.handle(), 1, &c);
  // The copy finishes before the host reads the pixels.
  barrier::transferToHost(rec.cmd);
  stream.submitAndWait();
  readback.invalidate();
  std::memcpy(pixels.data(), readback.mapped(), bytes);
  return pixels;
}

}  // namespace

ScenePngWriter::ScenePngWriter(Context& ctx, ShaderCompiler& compiler)
    : ctx_(ctx),
      owned_(std::make_unique<FigureRenderer>(ctx, compiler, VK_FORMAT_R8G8B8A8_UNORM,
                                              VK_IMAGE_LAYOUT_TRANSFER_SRC_OPTIMAL)),
      renderer_(owned_.get()) {}

ScenePngWriter::ScenePngWriter(Context& ctx, FigureRenderer& renderer) : ctx_(ctx), renderer_(&renderer) {}

std::vector<uint8_t> ScenePngWriter::write(const Scene& scene, const std::string& path) {
  std::vector<uint8_t> pixels = renderOffscreen(ctx_, *renderer_, scene.width, scene.height,
                                                [&](Recording& rec, VkFramebuffer fb) { renderer_->recordScene(rec, fb, scene); });
  if (!path.empty()) writePng(path, scene.width, scene.height, pixels.data());
  return pixels;
}

ValueRange renderFigurePng(Context& ctx, ShaderCompiler& compiler, const FigureSpec& spec,
                           const Image& tiles, const std::vector<float>& texels,
                           const std::string& path) {
  FigureRenderer renderer(ctx, compiler, VK_FORMAT_R8G8B8A8_UNORM, VK_IMAGE_LAYOUT_TRANSFER_SRC_OPTIMAL);
  return renderFigurePng(ctx, renderer, spec, tiles, texels, path);
}

std::vector<uint8_t> renderFigureRgba(Context& ctx, FigureRenderer& renderer, const FigureSpec& spec, const Image& tiles,
                                      const std::vector<float>& texels, ValueRange* rangeUsed) {
  ValueRange range = chooseRange(texels, spec.style);
  if (spec.style.logScale && !(range.vmin > 0))
    throw Error("a log scale needs a positive lower bound (got vmin = " + formatValue(range.vmin) + ")");
  if (!(range.vmax > range.vmin))
    throw Error("the colour range needs vmin < vmax (got " + formatValue(range.vmin) + " .. " +
                formatValue(range.vmax) + ")");
  if (rangeUsed) *rangeUsed = range;
  return renderOffscreen(ctx, renderer, spec.width, spec.height,
                         [&](Recording& rec, VkFramebuffer fb) { renderer.record(rec, fb, spec, tiles, range); });
}

ValueRange renderFigurePng(Context& ctx, FigureRenderer& renderer, const FigureSpec& spec, const Image& tiles,
                           const std::vector<float>& texels, const std::string& path) {
  ValueRange range;
  std::vector<uint8_t> pixels = renderFigureRgba(ctx, renderer, spec, tiles, texels, &range);
  writePng(path, spec.width, spec.height, pixels.data());
  return range;
}

std::vector<uint8_t> encodePng(uint32_t width, uint32_t height, const uint8_t* rgba) {
  std::vector<uint8_t> out;
  auto append = [](void* context, void* data, int size) {
    auto* bytes = static_cast<std::vector<uint8_t>*>(context);
    bytes->insert(bytes->end(), static_cast<uint8_t*>(data), static_cast<uint8_t*>(data) + size);
  };
  if (!stbi_write_png_to_func(append, &out, int(width), int(height), 4, rgba, int(width * 4)))
    throw Error("cannot encode a " + std::to_string(width) + "x" + std::to_string(height) + " PNG");
  return out;
}

}  // namespace attnscope
