// The frames a window presents: its surface and swapchain, one framebuffer per swapchain
// image for a render pass, and one frame in flight (a command buffer, its fence, the acquire
// and render-finished semaphores). The viewer and the lesson window both present through it.
#pragma once
#include <volk.h>

#include <memory>
#include <vector>

#include "engine/fenced_commands.h"
#include "viz/swapchain.h"

namespace attnscope {

class Context;
class Window;

class WindowFrames {
 public:
  // The context must have been created with the window's instance extensions and swapchain.
  WindowFrames(Context& ctx, Window& window, bool vsync);
  ~WindowFrames();
  WindowFrames(const WindowFrames&) = delete;
  WindowFrames& operator=(const WindowFrames&) = delete;

  Swapchain& swapchain() { return *swapchain_; }
  // Framebuffers for `renderPass` (once the renderer that owns it exists).
  void attach(VkRenderPass renderPass);
  // Waits until the frame in flight has finished: what it used may change after this.
  void waitForFrame();
  // Acquires the next image and begins the command buffer. False when the swapchain was out
  // of date: it has been recreated (check the extent) and this frame is skipped.
  bool begin(uint32_t& index);
  VkCommandBuffer cmd() const { return commands_->cmd(); }
  VkFramebuffer framebuffer(uint32_t index) const { return framebuffers_[index]; }
  // Ends the command buffer, submits it and presents. True when the swapchain had to be
  // recreated.
  bool submitAndPresent(uint32_t index);
  // A frame that only computes (the picture on screen stays): the same command buffer and
  // fence, no image acquired, nothing presented.
  void beginCompute();
  void submitCompute();
  // Recreates the swapchain at the window's framebuffer size; false while it is minimised.
  bool recreate();

 private:
  void createFramebuffers();
  void destroyFramebuffers();
  void createRenderedSemaphores();
  void release();
  Context& ctx_;
  Window& window_;
  VkSurfaceKHR surface_ = VK_NULL_HANDLE;
  std::unique_ptr<Swapchain> swapchain_;
  VkRenderPass renderPass_ = VK_NULL_HANDLE;
  std::vector<VkFramebuffer> framebuffers_;
  std::unique_ptr<FencedCommands> commands_;
  VkSemaphore acquired_ = VK_NULL_HANDLE;
  std::vector<VkSemaphore> rendered_;  // one per image: an image's semaphore is free once it is acquired again
};

}  // namespace attnscope
