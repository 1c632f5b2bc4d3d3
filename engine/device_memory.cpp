#include "engine/device_memory.h"

#include <algorithm>
#include <string>

#include "engine/vk_check.h"

namespace attnscope {

DeviceMemory::DeviceMemory(VkDevice device, const VkPhysicalDeviceMemoryProperties& props)
    : device_(device), props_(props) {}

DeviceMemory::~DeviceMemory() {
  for (Page& p : pages_)
    if (p.memory) vkFreeMemory(device_, p.memory, nullptr);
}

VkDeviceMemory DeviceMemory::allocateRaw(VkDeviceSize bytes, uint32_t typeIndex, const char* what, void** mapped) {
  VkMemoryAllocateInfo ai{VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO};
  ai.allocationSize = bytes;
  ai.memoryTypeIndex = typeIndex;
  VkDeviceMemory memory = VK_NULL_HANDLE;
  VkResult r = injectedFault("vkAllocateMemory");
  if (r == VK_SUCCESS) r = vkAllocateMemory(device_, &ai, nullptr, &memory);
  if (r == VK_ERROR_OUT_OF_DEVICE_MEMORY || r == VK_ERROR_OUT_OF_HOST_MEMORY)
    throw OutOfDeviceMemory("the device ran out of memory for " + std::to_string((bytes + (1 << 20) - 1) >> 20) +
                            " MiB of " + (what ? what : "data") + " (holding " +
                            std::to_string(held_ >> 20) + " MiB in " + std::to_string(count_) +
                            (count_ == 1 ? " allocation)" : " allocations)"));
  VK_CHECK_RESULT(r, "vkAllocateMemory");
  *mapped = nullptr;
  if (props_.memoryTypes[typeIndex].propertyFlags & VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT) {
    r = vkMapMemory(device_, memory, 0, VK_WHOLE_SIZE, 0, mapped);
    if (r != VK_SUCCESS) {
      vkFreeMemory(device_, memory, nullptr);
      VK_CHECK_RESULT(r, "vkMapMemory");
    }
  }
  held_ += bytes;
  ++count_;
  return memory;
}

void DeviceMemory::freeRaw(VkDeviceMemory memory, VkDeviceSize bytes) noexcept {
  vkFreeMemory(device_, memory, nullptr);  // unmaps implicitly
  held_ -= bytes;
  --count_;
}

DeviceAllocation DeviceMemory::allocate(const VkMemoryRequirements& req, uint32_t typeIndex, bool shareable,
                                        const char* what) {
  std::lock_guard<std::mutex> lock(mutex_);
  DeviceAllocation a;
  a.typeIndex = typeIndex;
  a.size = req.size;
  if (!shareable || req.size > kSmallBytes || req.alignment > kSmallBytes) {
    a.memory = allocateRaw(req.size, typeIndex, what, &a.mapped);
    inUse_ += a.size;
    return a;
  }
  // A slot of a page: slots are powers of two, so every slot offset meets the alignment.
  VkDeviceSize slotBytes = 1024;
  while (slotBytes < req.size || slotBytes < req.alignment) slotBytes *= 2;
  Page* page = nullptr;
  int32_t index = -1;
  for (size_t i = 0; i < pages_.size(); ++i) {
    Page& p = pages_[i];
    if (p.memory && p.typeIndex == typeIndex && p.slotBytes == slotBytes && !p.freeSlots.empty()) {
      page = &p;
      index = int32_t(i);
      break;
    }
  }
  if (!page) {
    for (size_t i = 0; i < pages_.size() && index < 0; ++i)
      if (!pages_[i].memory) index = int32_t(i);
    if (index < 0) {
      pages_.emplace_back();
      index = int32_t(pages_.size() - 1);
    }
    Page fresh;
    fresh.memory = allocateRaw(kPageBytes, typeIndex, what, &fresh.mapped);
    fresh.typeIndex = typeIndex;
    fresh.slotBytes = slotBytes;
    fresh.slots = uint32_t(kPageBytes / slotBytes);
    for (uint32_t s = fresh.slots; s-- > 0;) fresh.freeSlots.push_back(s);
    pages_[index] = std::move(fresh);
    page = &pages_[index];
  }
  a.slot = page->freeSlots.back();
  page->freeSlots.pop_back();
  a.page = index;
  a.size = slotBytes;
  inUse_ += a.size;
  a.memory = page->memory;
  a.offset = VkDeviceSize(a.slot) * slotBytes;
  a.mapped = page->mapped ? static_cast<char*>(page->mapped) + a.offset : nullptr;
  return a;
}

void DeviceMemory::free(DeviceAllocation& a) noexcept {
  if (!a.memory) return;
  std::lock_guard<std::mutex> lock(mutex_);
  inUse_ -= a.size;
  if (a.page < 0) {
    freeRaw(a.memory, a.size);
  } else {
    Page& p = pages_[size_t(a.page)];
    p.freeSlots.push_back(a.slot);
    if (p.freeSlots.size() == p.slots) {  // empty: its memory goes back, so bytesHeld() is honest
      freeRaw(p.memory, kPageBytes);
      p = Page{};
    }
  }
  a = DeviceAllocation{};
}

uint64_t DeviceMemory::bytesHeld() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return held_;
}

uint64_t DeviceMemory::bytesInUse() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return inUse_;
}

uint32_t DeviceMemory::allocationCount() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return count_;
}

}  // namespace attnscope
