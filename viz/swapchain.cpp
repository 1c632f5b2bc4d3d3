#include "viz/swapchain.h"

#include <algorithm>

#include "engine/context.h"
#include "engine/vk_check.h"

namespace attnscope {

Swapchain::Swapchain(Context& ctx, VkSurfaceKHR surface, uint32_t width, uint32_t height, bool vsync)
    : ctx_(ctx), surface_(surface), vsync_(vsync) {
  VkBool32 supported = VK_FALSE;
  VK_CHECK(vkGetPhysicalDeviceSurfaceSupportKHR(ctx.physicalDevice(), ctx.queueFamily(), surface, &supported));
  if (!supported)
    throw Error("device '" + ctx.caps().name + "' cannot present to this window: pick another with --device");
  create(width, height, VK_NULL_HANDLE);
}

Swapchain::~Swapchain() {
  destroyViews();
  if (swapchain_) vkDestroySwapchainKHR(ctx_.device(), swapchain_, nullptr);
}

void Swapchain::destroyViews() {
  for (auto v : views_) vkDestroyImageView(ctx_.device(), v, nullptr);
  views_.clear();
  images_.clear();
}

void Swapchain::recreate(uint32_t width, uint32_t height) {
  ctx_.waitIdle();  // the old images and views may still be in use by a frame in flight
  destroyViews();
  VkSwapchainKHR old = swapchain_;
  create(width, height, old);
  vkDestroySwapchainKHR(ctx_.device(), old, nullptr);
}

void Swapchain::create(uint32_t width, uint32_t height, VkSwapchainKHR old) {
  VkPhysicalDevice pd = ctx_.physicalDevice();
  VkSurfaceCapabilitiesKHR caps;
  VK_CHECK(vkGetPhysicalDeviceSurfaceCapabilitiesKHR(pd, surface_, &caps));
  uint32_t count = 0;
  VK_CHECK(vkGetPhysicalDeviceSurfaceFormatsKHR(pd, surface_, &count, nullptr));
  std::vector<VkSurfaceFormatKHR> formats(count);
  VK_CHECK(vkGetPhysicalDeviceSurfaceFormatsKHR(pd, surface_, &count, formats.data()));
  VkSurfaceFormatKHR chosen = formats.empty() ? VkSurfaceFormatKHR{VK_FORMAT_B8G8R8A8_UNORM, VK_COLOR_SPACE_SRGB_NONLINEAR_KHR}
                                              : formats[0];
  for (auto f : formats)
    if ((f.format == VK_FORMAT_B8G8R8A8_UNORM || f.format == VK_FORMAT_R8G8B8A8_UNORM) &&
        f.colorSpace == VK_COLOR_SPACE_SRGB_NONLINEAR_KHR) {
      chosen = f;
      break;
    }
  format_ = chosen.format;

  VK_CHECK(vkGetPhysicalDeviceSurfacePresentModesKHR(pd, surface_, &count, nullptr));
  std::vector<VkPresentModeKHR> modes(count);
  VK_CHECK(vkGetPhysicalDeviceSurfacePresentModesKHR(pd, surface_, &count, modes.data()));
  VkPresentModeKHR mode = VK_PRESENT_MODE_FIFO_KHR;  // always available; vsync
  if (!vsync_)
    for (VkPresentModeKHR m : {VK_PRESENT_MODE_MAILBOX_KHR, VK_PRESENT_MODE_IMMEDIATE_KHR})
      if (std::find(modes.begin(), modes.end(), m) != modes.end()) {
        mode = m;
        break;
      }

  if (caps.currentExtent.width != UINT32_MAX) {
    extent_ = caps.currentExtent;
  } else {
    extent_.width = std::clamp(width, caps.minImageExtent.width, caps.maxImageExtent.width);
    extent_.height = std::clamp(height, caps.minImageExtent.height, caps.maxImageExtent.height);
  }
  uint32_t images = caps.minImageCount + 1;
  if (caps.maxImageCount) images = std::min(images, caps.maxImageCount);
  copyable_ = caps.supportedUsageFlags & VK_IMAGE_USAGE_TRANSFER_SRC_BIT;

  VkSwapchainCreateInfoKHR ci{VK_STRUCTURE_TYPE_SWAPCHAIN_CREATE_INFO_KHR};
  ci.surface = surface_;
  ci.minImageCount = images;
  ci.imageFormat = chosen.format;
  ci.imageColorSpace = chosen.colorSpace;
  ci.imageExtent = extent_;
  ci.imageArrayLayers = 1;
  ci.imageUsage = VK_IMAGE_USAGE_COLOR_ATTACHMENT_BIT | (copyable_ ? VK_IMAGE_USAGE_TRANSFER_SRC_BIT : 0);
  ci.imageSharingMode = VK_SHARING_MODE_EXCLUSIVE;
  ci.preTransform = caps.currentTransform;
  ci.compositeAlpha = (caps.supportedCompositeAlpha & VK_COMPOSITE_ALPHA_OPAQUE_BIT_KHR)
                          ? VK_COMPOSITE_ALPHA_OPAQUE_BIT_KHR
                          : VkCompositeAlphaFlagBitsKHR(caps.supportedCompositeAlpha & -caps.supportedCompositeAlpha);
  ci.presentMode = mode;
  ci.clipped = VK_TRUE;
  ci.oldSwapchain = old;
  VK_CHECK(vkCreateSwapchainKHR(ctx_.device(), &ci, nullptr, &swapchain_));

  VK_CHECK(vkGetSwapchainImagesKHR(ctx_.device(), swapchain_, &count, nullptr));
  images_.resize(count);
  VK_CHECK(vkGetSwapchainImagesKHR(ctx_.device(), swapchain_, &count, images_.data()));
  for (VkImage img : images_) {
    VkImageViewCreateInfo vi{VK_STRUCTURE_TYPE_IMAGE_VIEW_CREATE_INFO};
    vi.image = img;
    vi.viewType = VK_IMAGE_VIEW_TYPE_2D;
    vi.format = format_;
    vi.subresourceRange = {VK_IMAGE_ASPECT_COLOR_BIT, 0, 1, 0, 1};
    VkImageView view;
    VK_CHECK(vkCreateImageView(ctx_.device(), &vi, nullptr, &view));
    views_.push_back(view);
  }
}

bool Swapchain::acquire(VkSemaphore signal, uint32_t& index) {
  // Checked by hand (out of date is not an error), so faults are injected by hand too.
  VkResult r = injectedFault("vkAcquireNextImageKHR");
  if (r == VK_SUCCESS) r = vkAcquireNextImageKHR(ctx_.device(), swapchain_, UINT64_MAX, signal, VK_NULL_HANDLE, &index);
  if (r == VK_ERROR_OUT_OF_DATE_KHR) return false;  // expected on resize: its own path
  if (r != VK_SUBOPTIMAL_KHR) VK_CHECK_RESULT(r, "vkAcquireNextImageKHR");
  return true;
}

bool Swapchain::present(VkSemaphore wait, uint32_t index) {
  VkPresentInfoKHR pi{VK_STRUCTURE_TYPE_PRESENT_INFO_KHR};
  pi.waitSemaphoreCount = 1;
  pi.pWaitSemaphores = &wait;
  pi.swapchainCount = 1;
  pi.pSwapchains = &swapchain_;
  pi.pImageIndices = &index;
  VkResult r = injectedFault("vkQueuePresentKHR");
  if (r == VK_SUCCESS) r = vkQueuePresentKHR(ctx_.queue(), &pi);
  if (r == VK_ERROR_OUT_OF_DATE_KHR || r == VK_SUBOPTIMAL_KHR) return false;
  VK_CHECK_RESULT(r, "vkQueuePresentKHR");
  return true;
}

}  // namespace attnscope
