#include "engine/buffer.h"

#include <algorithm>
#include <cstring>
#include <utility>

#include "engine/context.h"
#include "engine/vk_check.h"

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
    uint32_t type = ctx.findMemoryType(req.memoryTypeBits, required, preferred);
    alloc_ = ctx.allocator().allocate(req, type, true, debugName);
    VK_CHECK(vkBindBufferMemory(ctx.device(), buffer_, alloc_.memory, alloc_.offset));
    coherent_ = ctx.memoryTypeFlags(type) & VK_MEMORY_PROPERTY_HOST_COHERENT_BIT;
    mapped_ = alloc_.mapped;
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
  ctx_->allocator().free(alloc_);
  buffer_ = VK_NULL_HANDLE;
  mapped_ = nullptr;
}

Buffer::Buffer(Buffer&& o) noexcept { *this = std::move(o); }

Buffer& Buffer::operator=(Buffer&& o) noexcept {
  if (this != &o) {
    destroy();
    ctx_ = std::exchange(o.ctx_, nullptr);
    buffer_ = std::exchange(o.buffer_, VK_NULL_HANDLE);
    alloc_ = std::exchange(o.alloc_, DeviceAllocation{});
    size_ = std::exchange(o.size_, 0);
    mapped_ = std::exchange(o.mapped_, nullptr);
    coherent_ = o.coherent_;
  }
  return *this;
}

void Buffer::syncRange(bool flush) const {
  if (coherent_ || !mapped_) return;
  VkDeviceSize atom = std::max<VkDeviceSize>(ctx_->caps().limits.nonCoherentAtomSize, 1);
  VkMappedMemoryRange r{VK_STRUCTURE_TYPE_MAPPED_MEMORY_RANGE};
  r.memory = alloc_.memory;
  r.offset = alloc_.offset / atom * atom;
  r.size = VK_WHOLE_SIZE;
  if (alloc_.page >= 0) r.size = (alloc_.offset + size_ - r.offset + atom - 1) / atom * atom;
  if (flush) VK_CHECK(vkFlushMappedMemoryRanges(ctx_->device(), 1, &r));
  else VK_CHECK(vkInvalidateMappedMemoryRanges(ctx_->device(), 1, &r));
}

void Buffer::invalidate() const { syncRange(false); }

void Buffer::flush() const { syncRange(true); }

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

BufferView::BufferView(Context& ctx, const Buffer& buffer, VkFormat format, VkDeviceSize offset, VkDeviceSize range,
                       const char* debugName)
    : ctx_(&ctx) {
  VkBufferViewCreateInfo ci{VK_STRUCTURE_TYPE_BUFFER_VIEW_CREATE_INFO};
  ci.buffer = buffer.handle();
  ci.format = format;
  ci.offset = offset;
  ci.range = range;
  VK_CHECK(vkCreateBufferView(ctx.device(), &ci, nullptr, &view_));
  if (debugName) setDebugName(ctx, VK_OBJECT_TYPE_BUFFER_VIEW, uint64_t(view_), debugName);
}

BufferView::~BufferView() {
  if (ctx_ && view_) vkDestroyBufferView(ctx_->device(), view_, nullptr);
}

BufferView::BufferView(BufferView&& o) noexcept { *this = std::move(o); }

BufferView& BufferView::operator=(BufferView&& o) noexcept {
  if (this != &o) {
    if (ctx_ && view_) vkDestroyBufferView(ctx_->device(), view_, nullptr);
    ctx_ = o.ctx_;
    view_ = o.view_;
    o.view_ = VK_NULL_HANDLE;
  }
  return *this;
}

}  // namespace attnscope
