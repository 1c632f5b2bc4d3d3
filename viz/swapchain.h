// The window's swapchain: created for the surface's size, recreated when the window is
// resized or the surface says it is out of date. Images are UNORM so the colours on screen
// are the same bytes as in a rendered PNG.
#pragma once
#include <volk.h>

#include <vector>

namespace attnscope {

class Context;

class Swapchain {
 public:
  Swapchain(Context& ctx, VkSurfaceKHR surface, uint32_t width, uint32_t height, bool vsync);
  ~Swapchain();
  Swapchain(const Swapchain&) = delete;
  Swapchain& operator=(const Swapchain&) = delete;

  void recreate(uint32_t width, uint32_t height);
  // False when the swapchain is out of date (recreate, then try again next frame).
  bool acquire(VkSemaphore signal, uint32_t& index);
  bool present(VkSemaphore wait, uint32_t index);

  VkFormat format() const { return format_; }
  VkExtent2D extent() const { return extent_; }
  uint32_t imageCount() const { return uint32_t(images_.size()); }
  VkImage image(uint32_t i) const { return images_[i]; }
  VkImageView view(uint32_t i) const { return views_[i]; }
  bool copyable() const { return copyable_; }  // images can be copied out (screenshots)

 private:
  void create(uint32_t width, uint32_t height, VkSwapchainKHR old);
  void destroyViews();
  Context& ctx_;
  VkSurfaceKHR surface_;
  bool vsync_;
  VkSwapchainKHR swapchain_ = VK_NULL_HANDLE;
  VkFormat format_ = VK_FORMAT_UNDEFINED;
  VkExtent2D extent_{};
  bool copyable_ = false;
  std::vector<VkImage> images_;
  std::vector<VkImageView> views_;
};

}  // namespace attnscope
