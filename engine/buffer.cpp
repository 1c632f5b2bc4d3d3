#include "engine/buffer.h"

#include <cstring>
#include <utility>

#include "engine/context.h"
#include "engine/error.h"

namespace attnscope {

void setDebugName(Context& ctx, VkObjectType type, uint64_t handle, const char* name) {
  if (!name || !ctx.validationEnabled() || !vkSetDebugUtilsObjectNameEXT) return;
  VkDebugUtilsObjectNameInfoEXT ni{VK_STRUCTURE_TYPE_DEBUG_UTILS_OBJECT_NAME_INFO_EXT};
  ni.objectType = type;
  ni.objectHandle = handle;
  ni.pObjectName = name;
  vkSetDebugUtilsObjectNameEXT(ctx.device(), &ni);
}

Buffer::Buffer(Context& ctx, VkDeviceSize size, VkBufferUsageFlags usage, MemoryUse use,
               const char* debugName)
    : ctx_(&ctx), size_(size) {
  if (size == 0) size = 4;  // Vulkan forbids empty buffers; callers may still ask for 0 bytes
  VkBufferCreateInfo bi{VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO};
  bi.size = size;
  bi.usage = usage | VK_BUFFER_USAGE_TRANSFER_SRC_BIT | VK_BUFFER_USAGE_TRANSFER_DST_BIT;
  bi.sharingMode = VK_SHARING_MODE_EXCLUSIVE;
  VK_CHECK(vkCreateBuffer(ctx.device(), &bi, nullptr, &buffer_));
  try {
    VkMemoryRequirements req;
    vkGetBufferMemoryRequirements(ctx.device(), buffer_, &req);
    VkMemoryPropertyFlags required = 0, preferred = 0;
    switch (use) {
      case MemoryUse::DeviceLocal: preferred = VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT; break;
      case MemoryUse::Upload:
        required = VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT;
        break;
      case MemoryUse::Readback:
        required = VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT;
        preferred = VK_MEMORY_PROPERTY_HOST_CACHED_BIT;
        break;
    }
    VkMemoryAllocateInfo ai{VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO};
    ai.allocationSize = req.size;
    ai.memoryTypeIndex = ctx.findMemoryType(req.memoryTypeBits, required, preferred);
    VkResult r = vkAllocateMemory(ctx.device(), &ai, nullptr, &memory_);
    if (r == VK_ERROR_OUT_OF_DEVICE_MEMORY || r == VK_ERROR_OUT_OF_HOST_MEMORY)
      throw Error("the device could not allocate " + std::to_string(req.size >> 20) +
                  " MiB" + (debugName ? std::string(" for ") + debugName : std::string()) +
                  ": use fewer tokens or a smaller output");
    VK_CHECK(r);
    VK_CHECK(vkBindBufferMemory(ctx.device(), buffer_, memory_, 0));
    // Memory types are read back through the same index we allocated from.
    VkPhysicalDeviceMemoryProperties mp;
    vkGetPhysicalDeviceMemoryProperties(ctx.physicalDevice(), &mp);
    VkMemoryPropertyFlags flags = mp.memoryTypes[ai.memoryTypeIndex].propertyFlags;
    coherent_ = flags & VK_MEMORY_PROPERTY_HOST_COHERENT_BIT;
    if (flags & VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT)
      VK_CHECK(vkMapMemory(ctx.device(), memory_, 0, VK_WHOLE_SIZE, 0, &mapped_));
    setDebugName(ctx, VK_OBJECT_TYPE_BUFFER, uint64_t(buffer_), debugName);
  } catch (...) {
    destroy();
    throw;
  }
}

Buffer::~Buffer() { destroy(); }

void Buffer::destroy() {
  if (!ctx_) return;
  if (buffer_) vkDestroyBuffer(ctx_->device(), buffer_, nullptr);
  if (memory_) vkFreeMemory(ctx_->device(), memory_, nullptr);  // unmaps implicitly
  buffer_ = VK_NULL_HANDLE;
  memory_ = VK_NULL_HANDLE;
  mapped_ = nullptr;
}

Buffer::Buffer(Buffer&& o) noexcept { *this = std::move(o); }

Buffer& Buffer::operator=(Buffer&& o) noexcept {
  if (this != &o) {
    destroy();
    ctx_ = std::exchange(o.ctx_, nullptr);
    buffer_ = std::exchange(o.buffer_, VK_NULL_HANDLE);
    memory_ = std::exchange(o.memory_, VK_NULL_HANDLE);
    size_ = std::exchange(o.size_, 0);
    mapped_ = std::exchange(o.mapped_, nullptr);
    coherent_ = o.coherent_;
  }
  return *this;
}

void Buffer::invalidate() const {
  if (coherent_ || !mapped_) return;
  VkMappedMemoryRange r{VK_STRUCTURE_TYPE_MAPPED_MEMORY_RANGE};
  r.memory = memory_;
  r.size = VK_WHOLE_SIZE;
  VK_CHECK(vkInvalidateMappedMemoryRanges(ctx_->device(), 1, &r));
}

void Buffer::flush() const {
  if (coherent_ || !mapped_) return;
  VkMappedMemoryRange r{VK_STRUCTURE_TYPE_MAPPED_MEMORY_RANGE};
  r.memory = memory_;
  r.size = VK_WHOLE_SIZE;
  VK_CHECK(vkFlushMappedMemoryRanges(ctx_->device(), 1, &r));
}

// Staging in pieces keeps host memory bounded when inputs are hundreds of MiB.
static constexpr VkDeviceSize kStagingChunk = VkDeviceSize(32) << 20;

void Buffer::upload(const void* data, VkDeviceSize bytes, VkDeviceSize offset) {
  if (offset + bytes > size_) throw Error("internal: upload past the end of a buffer");
  if (bytes == 0) return;
  if (mapped_) {
    std::memcpy(static_cast<char*>(mapped_) + offset, data, bytes);
    flush();
    return;
  }
  Buffer staging(*ctx_, std::min(bytes, kStagingChunk), VK_BUFFER_USAGE_TRANSFER_SRC_BIT,
                 MemoryUse::Upload, "staging upload");
  for (VkDeviceSize done = 0; done < bytes;) {
    VkDeviceSize n = std::min(bytes - done, kStagingChunk);
    std::memcpy(staging.mapped(), static_cast<const char*>(data) + done, n);
    staging.flush();
    ctx_->immediate([&](VkCommandBuffer cmd) {
      VkBufferCopy c{0, offset + done, n};
      vkCmdCopyBuffer(cmd, staging.handle(), buffer_, 1, &c);
    });
    done += n;
  }
}

void Buffer::download(void* data, VkDeviceSize bytes, VkDeviceSize offset) {
  if (offset + bytes > size_) throw Error("internal: download past the end of a buffer");
  if (bytes == 0) return;
  if (mapped_) {
    invalidate();
    std::memcpy(data, static_cast<const char*>(mapped_) + offset, bytes);
    return;
  }
  Buffer staging(*ctx_, std::min(bytes, kStagingChunk), VK_BUFFER_USAGE_TRANSFER_DST_BIT,
                 MemoryUse::Readback, "staging readback");
  for (VkDeviceSize done = 0; done < bytes;) {
    VkDeviceSize n = std::min(bytes - done, kStagingChunk);
    ctx_->immediate([&](VkCommandBuffer cmd) {
      VkBufferCopy c{offset + done, 0, n};
      vkCmdCopyBuffer(cmd, buffer_, staging.handle(), 1, &c);
    });
    staging.invalidate();
    std::memcpy(static_cast<char*>(data) + done, staging.mapped(), n);
    done += n;
  }
}

BufferWindow makeWindow(const Context& ctx, const Buffer& buffer, VkDeviceSize byteBegin,
                        VkDeviceSize byteEnd) {
  const auto& lim = ctx.caps().limits;
  VkDeviceSize align = std::max<VkDeviceSize>(lim.minStorageBufferOffsetAlignment, 4);
  BufferWindow w;
  w.buffer = buffer.handle();
  w.offset = byteBegin / align * align;
  w.elementSkip = uint32_t((byteBegin - w.offset) / 4);
  VkDeviceSize end = std::max(byteEnd, w.offset + 4);
  w.range = std::min<VkDeviceSize>(end - w.offset, buffer.size() - w.offset);
  if (w.range > lim.maxStorageBufferRange)
    throw Error("internal: a buffer window of " + std::to_string(w.range) +
                " bytes exceeds maxStorageBufferRange");
  return w;
}

}  // namespace attnscope
