#include "engine/fenced_commands.h"

#include "engine/vk_check.h"

namespace attnscope {

FencedCommands::FencedCommands(VkDevice device, uint32_t queueFamily, bool signaled) : device_(device) {
  VkCommandPoolCreateInfo pci{VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO};
  pci.flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT;
  pci.queueFamilyIndex = queueFamily;
  VK_CHECK(vkCreateCommandPool(device, &pci, nullptr, &pool_));
  try {
    VkCommandBufferAllocateInfo ai{VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO};
    ai.commandPool = pool_;
    ai.level = VK_COMMAND_BUFFER_LEVEL_PRIMARY;
    ai.commandBufferCount = 1;
    VK_CHECK(vkAllocateCommandBuffers(device, &ai, &cmd_));
    VkFenceCreateInfo fci{VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
    if (signaled) fci.flags = VK_FENCE_CREATE_SIGNALED_BIT;
    VK_CHECK(vkCreateFence(device, &fci, nullptr, &fence_));
  } catch (...) {
    vkDestroyCommandPool(device, pool_, nullptr);  // frees the command buffer with it
    throw;
  }
}

FencedCommands::~FencedCommands() {
  // A recording abandoned by an error is freed with the pool (allowed: it is not pending).
  vkDestroyFence(device_, fence_, nullptr);
  vkDestroyCommandPool(device_, pool_, nullptr);
}

void FencedCommands::begin() {
  VK_CHECK(vkResetCommandBuffer(cmd_, 0));
  VkCommandBufferBeginInfo bi{VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO};
  bi.flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT;
  VK_CHECK(vkBeginCommandBuffer(cmd_, &bi));
  recording_ = true;
}

void FencedCommands::submit(VkQueue queue, VkSubmitInfo info) {
  recording_ = false;
  VK_CHECK(vkEndCommandBuffer(cmd_));
  info.commandBufferCount = 1;
  info.pCommandBuffers = &cmd_;
  VK_CHECK(vkQueueSubmit(queue, 1, &info, fence_));
}

void FencedCommands::waitSignaled() { VK_CHECK(vkWaitForFences(device_, 1, &fence_, VK_TRUE, UINT64_MAX)); }

void FencedCommands::resetFence() { VK_CHECK(vkResetFences(device_, 1, &fence_)); }

void FencedCommands::wait() {
  waitSignaled();
  resetFence();
}

}  // namespace attnscope
