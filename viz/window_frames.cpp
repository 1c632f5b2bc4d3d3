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
    // The fence starts signalled: the first frame has nothing to wait for.
    commands_ = std::make_unique<FencedCommands>(ctx.device(), ctx.queueFamily(), true);
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
  commands_.reset();
  acquired_ = VK_NULL_HANDLE;
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

void WindowFrames::waitForFrame() { commands_->waitSignaled(); }

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
  commands_->resetFence();
  commands_->begin();
  return true;
}

void WindowFrames::beginCompute() {
  commands_->resetFence();
  commands_->begin();
}

void WindowFrames::submitCompute() { commands_->submit(ctx_.queue()); }

bool WindowFrames::submitAndPresent(uint32_t index) {
  // Colour writes wait for the acquired image; the present waits for the rendering.
  VkPipelineStageFlags waitStage = VK_PIPELINE_STAGE_COLOR_ATTACHMENT_OUTPUT_BIT;
  VkSubmitInfo si{VK_STRUCTURE_TYPE_SUBMIT_INFO};
  si.waitSemaphoreCount = 1;
  si.pWaitSemaphores = &acquired_;
  si.pWaitDstStageMask = &waitStage;
  si.signalSemaphoreCount = 1;
  si.pSignalSemaphores = &rendered_[index];
  commands_->submit(ctx_.queue(), si);
  if (swapchain_->present(rendered_[index], index)) return false;
  return recreate();
}

}  // namespace attnscope
