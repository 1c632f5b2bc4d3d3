// A 2D VkImage with its memory and one view. Move-only, like Buffer.
#pragma once
#include <volk.h>

#include <cstdint>

#include "engine/device_memory.h"

namespace attnscope {

class Context;

class Image {
 public:
  Image() = default;
  Image(Context& ctx, uint32_t width, uint32_t height, VkFormat format, VkImageUsageFlags usage,
        const char* debugName = nullptr);
  ~Image();
  Image(Image&& o) noexcept;
  Image& operator=(Image&& o) noexcept;
  Image(const Image&) = delete;
  Image& operator=(const Image&) = delete;

  VkImage handle() const { return image_; }
  VkImageView view() const { return view_; }
  VkFormat format() const { return format_; }
  uint32_t width() const { return width_; }
  uint32_t height() const { return height_; }
  // Device memory this image holds (its own allocation).
  VkDeviceSize memoryBytes() const { return alloc_.size; }
  explicit operator bool() const { return image_ != VK_NULL_HANDLE; }

 private:
  void destroy();
  Context* ctx_ = nullptr;
  VkImage image_ = VK_NULL_HANDLE;
  VkImageView view_ = VK_NULL_HANDLE;
  DeviceAllocation alloc_;
  VkFormat format_ = VK_FORMAT_UNDEFINED;
  uint32_t width_ = 0, height_ = 0;
};

// Fills a whole image from tightly packed host pixels and leaves it in
// SHADER_READ_ONLY_OPTIMAL for fragment sampling. Blocking; for textures made once.
void uploadImage(Context& ctx, Image& image, const void* pixels, uint64_t bytes);

class Sampler {
 public:
  Sampler() = default;
  Sampler(Context& ctx, VkFilter filter);
  ~Sampler();
  Sampler(Sampler&& o) noexcept;
  Sampler& operator=(Sampler&& o) noexcept;
  VkSampler handle() const { return sampler_; }

 private:
  Context* ctx_ = nullptr;
  VkSampler sampler_ = VK_NULL_HANDLE;
};

}  // namespace attnscope
