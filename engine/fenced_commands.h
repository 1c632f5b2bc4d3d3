// One primary command buffer with its own pool and a fence: what each stream of submissions
// needs (a command-line job, a window's frames, the context's setup work). One owner instead
// of three hand-made copies; nothing leaks when creation fails halfway.
#pragma once
#include <volk.h>

#include <cstdint>

namespace attnscope {

class FencedCommands {
 public:
  // signaled: the fence starts signaled, so the first wait() returns at once (frames).
  FencedCommands(VkDevice device, uint32_t queueFamily, bool signaled = false);
  ~FencedCommands();
  FencedCommands(const FencedCommands&) = delete;
  FencedCommands& operator=(const FencedCommands&) = delete;

  VkCommandBuffer cmd() const { return cmd_; }
  // Resets the command buffer and begins a one-time recording. The last submission must
  // have completed (wait() does that).
  void begin();
  // Ends the recording and submits it with the fence signalled on completion; `info` may
  // carry semaphores (its command buffers are set here).
  void submit(VkQueue queue, VkSubmitInfo info = {VK_STRUCTURE_TYPE_SUBMIT_INFO});
  // Waits for the last submission, then resets the fence for the next one.
  void wait();
  // Waits without resetting (frames check the fence, then submit again later).
  void waitSignaled();
  void resetFence();
  bool recording() const { return recording_; }

 private:
  VkDevice device_;
  VkCommandPool pool_ = VK_NULL_HANDLE;
  VkCommandBuffer cmd_ = VK_NULL_HANDLE;
  VkFence fence_ = VK_NULL_HANDLE;
  bool recording_ = false;
};

}  // namespace attnscope
