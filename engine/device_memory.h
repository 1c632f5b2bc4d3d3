// Every device allocation goes through here: one place that counts the device memory held,
// serves small buffers from shared pages (a viewer at work makes thousands of small
// buffers, and Vulkan allows as few as 4096 allocations), and turns an exhausted heap into
// OutOfDeviceMemory, which callers such as the tile cache can answer by freeing memory.
#pragma once
#include <volk.h>

#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "engine/error.h"

namespace attnscope {

struct DeviceAllocation {
  VkDeviceMemory memory = VK_NULL_HANDLE;
  VkDeviceSize offset = 0, size = 0;  // size: what it occupies (a whole slot of a page)
  uint32_t typeIndex = 0;
  void* mapped = nullptr;  // host-visible memory is mapped once, for its whole life
  int32_t page = -1;       // a slot of a shared page, or -1 for memory of its own
  uint32_t slot = 0;
  explicit operator bool() const { return memory != VK_NULL_HANDLE; }
};

class DeviceMemory {
 public:
  // Requests up to this size share pages of kPageBytes; larger ones get memory of their own.
  static constexpr VkDeviceSize kSmallBytes = VkDeviceSize(256) << 10;
  static constexpr VkDeviceSize kPageBytes = VkDeviceSize(4) << 20;

  DeviceMemory(VkDevice device, const VkPhysicalDeviceMemoryProperties& props);
  ~DeviceMemory();
  DeviceMemory(const DeviceMemory&) = delete;
  DeviceMemory& operator=(const DeviceMemory&) = delete;

  // Throws OutOfDeviceMemory naming `what` when the heap is exhausted. Only buffers may
  // share pages (`shareable`): images and buffers in one memory would need
  // bufferImageGranularity between them.
  DeviceAllocation allocate(const VkMemoryRequirements& req, uint32_t typeIndex, bool shareable, const char* what);
  void free(DeviceAllocation& a) noexcept;

  // Device memory held now (pages count whole), how much of it allocations occupy, and how
  // many VkDeviceMemory objects there are.
  uint64_t bytesHeld() const;
  uint64_t bytesInUse() const;
  uint32_t allocationCount() const;

 private:
  struct Page {
    VkDeviceMemory memory = VK_NULL_HANDLE;
    uint32_t typeIndex = 0;
    VkDeviceSize slotBytes = 0;
    void* mapped = nullptr;
    std::vector<uint32_t> freeSlots;
    uint32_t slots = 0;
  };
  VkDeviceMemory allocateRaw(VkDeviceSize bytes, uint32_t typeIndex, const char* what, void** mapped);
  void freeRaw(VkDeviceMemory memory, VkDeviceSize bytes) noexcept;

  VkDevice device_;
  VkPhysicalDeviceMemoryProperties props_;
  mutable std::mutex mutex_;
  std::vector<Page> pages_;  // a freed page's entry is reused; memory == null marks it empty
  uint64_t held_ = 0, inUse_ = 0;
  uint32_t count_ = 0;
};

}  // namespace attnscope
