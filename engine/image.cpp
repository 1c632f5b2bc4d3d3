#include "engine/image.h"

#include <cstring>
#include <string>
#include <utility>

#include "engine/barriers.h"
#include "engine/buffer.h"
#include "engine/context.h"
#include "engine/vk_check.h"

namespace attnscope {

Image::Image(Context& ctx, uint32_t width, uint32_t height, VkFormat format,
             VkImageUsageFlags usage, const char* debugName)
    : ctx_(&ctx), format_(format), width_(width), height_(height) {
  uint32_t maxDim = ctx.caps().limits.maxImageDimension2D;
  if (width == 0 || height == 0 || width > maxDim || height > maxDim)
    throw Error("an image of " + std::to_string(width) + "x" + std::to_string(height) +
                " pixels is outside what device '" + ctx.caps().name + "' allows (1.." +
                std::to_string(maxDim) + " per side): choose a smaller size");
  VkImageCreateInfo ci{VK_STRUCTURE_TYPE_IMAGE_CREATE_INFO};
  ci.imageType = VK_IMAGE_TYPE_2D;
  ci.format = format;
  ci.extent = {width, height, 1};
  ci.mipLevels = 1;
  ci.arrayLayers = 1;
  ci.samples = VK_SAMPLE_COUNT_1_BIT;
  ci.tiling = VK_IMAGE_TILING_OPTIMAL;
  ci.usage = usage;
  ci.sharingMode = VK_SHARING_MODE_EXCLUSIVE;
  ci.initialLayout = VK_IMAGE_LAYOUT_UNDEFINED;
  VK_CHECK(vkCreateImage(ctx.device(), &ci, nullptr, &image_));
  try {
    VkMemoryRequirements req;
    vkGetImageMemoryRequirements(ctx.device(), image_, &req);
    uint32_t type = ctx.findMemoryType(req.memoryTypeBits, 0, VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT);
    alloc_ = ctx.allocator().allocate(req, type, false, debugName);
    VK_CHECK(vkBindImageMemory(ctx.device(), image_, alloc_.memory, alloc_.offset));
    VkImageViewCreateInfo vi{VK_STRUCTURE_TYPE_IMAGE_VIEW_CREATE_INFO};
    vi.image = image_;
    vi.viewType = VK_IMAGE_VIEW_TYPE_2D;
    vi.format = format;
    vi.subresourceRange = {VK_IMAGE_ASPECT_COLOR_BIT, 0, 1, 0, 1};
    VK_CHECK(vkCreateImageView(ctx.device(), &vi, nullptr, &view_));
    setDebugName(ctx, VK_OBJECT_TYPE_IMAGE, uint64_t(image_), debugName);
  } catch (...) {
    destroy();
    throw;
  }
}

Image::~Image() { destroy(); }

void Image::destroy() {
  if (!ctx_) return;
  if (view_) vkDestroyImageView(ctx_->device(), view_, nullptr);
  if (image_) vkDestroyImage(ctx_->device(), image_, nullptr);
  ctx_->allocator().free(alloc_);
  view_ = VK_NULL_HANDLE;
  image_ = VK_NULL_HANDLE;
}

Image::Image(Image&& o) noexcept { *this = std::move(o); }

Image& Image::operator=(Image&& o) noexcept {
  if (this != &o) {
    destroy();
    ctx_ = std::exchange(o.ctx_, nullptr);
    image_ = std::exchange(o.image_, VK_NULL_HANDLE);
    view_ = std::exchange(o.view_, VK_NULL_HANDLE);
    alloc_ = std::exchange(o.alloc_, DeviceAllocation{});
    format_ = o.format_;
    width_ = o.width_;
    height_ = o.height_;
  }
  return *this;
}

void uploadImage(Context& ctx, Image& image, const void* pixels, uint64_t bytes) {
  Buffer staging(ctx, bytes, VK_BUFFER_USAGE_TRANSFER_SRC_BIT, MemoryUse::Upload, "texture upload");
  std::memcpy(staging.mapped(), pixels, bytes);
  staging.flush();
  ctx.immediate([&](VkCommandBuffer cmd) {
    // New image -> copy destination; nothing was in it before.
    barrier::imageLayout(cmd, image.handle(), VK_IMAGE_LAYOUT_UNDEFINED,
                         VK_IMAGE_LAYOUT_TRANSFER_DST_OPTIMAL, VK_PIPELINE_STAGE_TOP_OF_PIPE_BIT, 0,
                         VK_PIPELINE_STAGE_TRANSFER_BIT, VK_ACCESS_TRANSFER_WRITE_BIT);
    VkBufferImageCopy c{};
    c.imageSubresource = {VK_IMAGE_ASPECT_COLOR_BIT, 0, 0, 1};
    c.imageExtent = {image.width(), image.height(), 1};
    vkCmdCopyBufferToImage(cmd, staging.handle(), image.handle(), VK_IMAGE_LAYOUT_TRANSFER_DST_OPTIMAL, 1, &c);
    // The copy lands before any fragment shader samples the texture.
    barrier::imageLayout(cmd, image.handle(), VK_IMAGE_LAYOUT_TRANSFER_DST_OPTIMAL,
                         VK_IMAGE_LAYOUT_SHADER_READ_ONLY_OPTIMAL, VK_PIPELINE_STAGE_TRANSFER_BIT,
                         VK_ACCESS_TRANSFER_WRITE_BIT, VK_PIPELINE_STAGE_FRAGMENT_SHADER_BIT,
                         VK_ACCESS_SHADER_READ_BIT);
  });
}

Sampler::Sampler(Context& ctx, VkFilter filter) : ctx_(&ctx) {
  VkSamplerCreateInfo si{VK_STRUCTURE_TYPE_SAMPLER_CREATE_INFO};
  si.magFilter = filter;
  si.minFilter = filter;
  si.mipmapMode = VK_SAMPLER_MIPMAP_MODE_NEAREST;
  si.addressModeU = si.addressModeV = si.addressModeW = VK_SAMPLER_ADDRESS_MODE_CLAMP_TO_EDGE;
  si.maxLod = 0.0f;
  VK_CHECK(vkCreateSampler(ctx.device(), &si, nullptr, &sampler_));
}

Sampler::~Sampler() {
  if (ctx_ && sampler_) vkDestroySampler(ctx_->device(), sampler_, nullptr);
}

Sampler::Sampler(Sampler&& o) noexcept { *this = std::move(o); }

Sampler& Sampler::operator=(Sampler&& o) noexcept {
  if (this != &o) {
    if (ctx_ && sampler_) vkDestroySampler(ctx_->device(), sampler_, nullptr);
    ctx_ = std::exchange(o.ctx_, nullptr);
    sampler_ = std::exchange(o.sampler_, VK_NULL_HANDLE);
  }
  return *this;
}

}  // namespace attnscope
