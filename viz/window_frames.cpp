#include "viz/window_frames.h"

#include <algorithm>

#include "engine/context.h"
#include "engine/vk_check.h"
#include "viz/window.h"

namespace attnscope {

WindowFrames::WindowFrames(Context& ctx, Window& window, bool vsync) : ctx_(ctx), window_(window) {
  surface_ = window.createSurface(ctx.instance());
  uint32_t w, h;
  window.framebufferSize(w, h);
  try {
    swapchain_ = std::make_unique<Swapchain>(ctx, surface_, std::max(w, 1u), std::max(h, 1u), vsync);
    VkCommandPoolCreateInfo pci{VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO};
    pci.flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT;
    pci.queueFamilyIndex = ctx.queueFamily();
    VK_CHECK(vkCreateCommandPool(ctx.device(), &pci, nullptr, &pool_));
    VkCommandBufferAllocateInfo ai{VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO};
    ai.commandPool = pool_;
    ai.level = VK_COMMAND_BUFFER_LEVEL_PRIMARY;
    ai.commandBufferCount = 1;
    VK_CHECK(vkAllocateCommandBuffers(ctx.device(), &ai, &cmd_));
    VkFenceCreateInfo fci{VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
    fci.flags = VK_FENCE_CREATE_SIGNALED_BIT;
    VK_CHECK(vkCreateFence(ctx.device(), &fci, nullptr, &fence_));
    VkSemaphoreCreateInfo sci{VK_STRUCTURE_TYPE_SEMAPHORE_CREATE_INFO};
    VK_CHECK(vkCreateSemaphore(ctx.device(), &sci, nullptr, &acquired_));
    createRenderedSemaphores();
  } catch (...) {
    release();
    throw;
  }
}

WindowFrames::~WindowFrames() { release(); }

void WindowFrames::release() {
  VkDevice dev = ctx_.device();
  ctx_.waitIdleInDestructor();
  destroyFramebuffers();
  for (auto s : rendered_) vkDestroySemaphore(dev, s, nullptr);
  rendered_.clear();
  if (acquired_) vkDestroySemaphore(dev, acquired_, nullptr);
  if (fence_) vkDestroyFence(dev, fence_, nullptr);
  if (pool_) vkDestroyCommandPool(dev, pool_, nullptr);
  acquired_ = VK_NULL_HANDLE;
  fence_ = VK_NULL_HANDLE;
  pool_ = VK_NULL_HANDLE;
  swapchain_.reset();
  if (surface_) vkDestroySurfaceKHR(ctx_.instance(), surface_, nullptr);
  surface_ = VK_NULL_HANDLE;
}

void WindowFrames::attach(VkRenderPass renderPass) {
  renderPass_ = renderPass;
  destroyFramebuffers();
  createFramebuffers();
}

void WindowFrames::createFramebuffers() {
  for (uint32_t i = 0; i < swapchain_->imageCount(); ++i) {
    VkImageView view = swapchain_->view(i);
    VkFramebufferCreateInfo fi{VK_STRUCTURE_TYPE_FRAMEBUFFER_CREATE_INFO};
    fi.renderPass = renderPass_;
    fi.attachmentCount = 1;
    fi.pAttachments = &view;
    fi.width = swapchain_->extent().width;
    fi.height = swapchain_->extent().height;
    fi.layers = 1;
    VkFramebuffer fb;
    VK_CHECK(vkCreateFramebuffer(ctx_.device(), &fi, nullptr, &fb));
    framebuffers_.push_back(fb);
  }
}

void WindowFrames::destroyFramebuffers() {
  for (auto fb : framebuffers_) vkDestroyFramebuffer(ctx_.device(), fb, nullptr);
  framebuffers_.clear();
}

void WindowFrames::createRenderedSemaphores() {
  for (auto s : rendered_) vkDestroySemaphore(ctx_.device(), s, nullptr);
  rendered_.clear();
  VkSemaphoreCreateInfo sci{VK_STRUCTURE_TYPE_SEMAPHORE_CREATE_INFO};
  for (uint32_t i = 0; i < swapchain_->imageCount(); ++i) {
    VkSemaphore s;
    VK_CHECK(vkCreateSemaphore(ctx_.device(), &sci, nullptr, &s));
    rendered_.push_back(s);
  }
}

void WindowFrames::waitForFrame() { VK_CHECK(vkWaitForFences(ctx_.device(), 1, &fence_, VK_TRUE, UINT64_MAX)); }

bool WindowFrames::recreate() {
  uint32_t w, h;
  window_.framebufferSize(w, h);
  if (w == 0 || h == 0) return false;
  ctx_.waitIdle();  // the framebuffers and images go
  destroyFramebuffers();
  swapchain_->recreate(w, h);
  if (renderPass_) createFramebuffers();
  createRenderedSemaphores();
  return true;
}

bool WindowFrames::begin(uint32_t& index) {
  if (!swapchain_->acquire(acquired_, index)) {
    recreate();
    return false;
  }
  VK_CHECK(vkResetFences(ctx_.device(), 1, &fence_));
  VK_CHECK(vkResetCommandBuffer(cmd_, 0));
  VkCommandBufferBeginInfo bi{VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO};
  bi.flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT;
  VK_CHECK(vkBeginCommandBuffer(cmd_, &bi));
  return true;
}

bool WindowFrames::submitAndPresent(uint32_t index) {
  VK_CHECK(vkEndCommandBuffer(cmd_));
  // Colour writes wait for the acquired image; the present waits for the rendering.
  VkPipelineStageFlags waitStage = VK_PIPELINE_STAGE_COLOR_ATTACHMENT_OUTPUT_BIT;
  VkSubmitInfo si{VK_STRUCTURE_TYPE_SUBMIT_INFO};
  si.waitSemaphoreCount = 1;
  si.pWaitSemaphores = &acquired_;
  si.pWaitDstStageMask = &waitStage;
  si.commandBufferCount = 1;
  si.pCommandBuffers = &cmd_;
  si.signalSemaphoreCount = 1;
  si.pSignalSemaphores = &rendered_[index];
  VK_CHECK(vkQueueSubmit(ctx_.queue(), 1, &si, fence_));
  if (swapchain_->present(rendered_[index], index)) return false;
  return recreate();
}

}  // namespace attnscope
