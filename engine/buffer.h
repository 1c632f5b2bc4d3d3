// A VkBuffer with its own memory. Move-only: whoever holds it owns it, and nothing leaks
// when construction fails halfway.
#pragma once
#include <volk.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "engine/device_memory.h"

namespace attnscope {

class Context;

enum class MemoryUse {
  DeviceLocal,  // GPU data; filled by uploads or shaders
  Upload,       // host-visible staging, written by the CPU
  Readback,     // host-visible, read by the CPU (cached where the device offers it)
};

class Buffer {
 public:
  Buffer() = default;
  Buffer(Context& ctx, VkDeviceSize size, VkBufferUsageFlags usage, MemoryUse use,
         const char* debugName = nullptr);
  ~Buffer();
  Buffer(Buffer&& o) noexcept;
  Buffer& operator=(Buffer&& o) noexcept;
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;

  VkBuffer handle() const { return buffer_; }
  VkDeviceSize size() const { return size_; }
  // Device memory this buffer holds (its allocation, or its slot of a shared page).
  VkDeviceSize memoryBytes() const { return alloc_.size; }
  explicit operator bool() const { return buffer_ != VK_NULL_HANDLE; }
  // Non-null when the memory is host-visible (always for Upload and Readback).
  void* mapped() const { return mapped_; }
  // Makes device writes visible to the host on non-coherent memory.
  void invalidate() const;
  void flush() const;

  // Blocking transfers through a staging buffer when the memory is not host-visible.
  // For setup and tests; passes never call them.
  void upload(const void* data, VkDeviceSize bytes, VkDeviceSize offset = 0);
  void download(void* data, VkDeviceSize bytes, VkDeviceSize offset = 0);

 private:
  void destroy();
  Context* ctx_ = nullptr;
  VkBuffer buffer_ = VK_NULL_HANDLE;
  DeviceAllocation alloc_;
  VkDeviceSize size_ = 0;
  void* mapped_ = nullptr;
  bool coherent_ = true;
  // Flushes or invalidates this buffer's range of its memory (atom-aligned).
  void syncRange(bool flush) const;
};

// Where a view of a large buffer starts when it must be bound at an aligned offset with a
// limited range (lavapipe: 128 MiB): the binding starts at `offset`, and the element the
// caller wanted sits `elementSkip` floats into it.
struct BufferWindow {
  VkBuffer buffer = VK_NULL_HANDLE;
  VkDeviceSize offset = 0;
  VkDeviceSize range = 0;
  uint32_t elementSkip = 0;
};

BufferWindow makeWindow(const Context& ctx, const Buffer& buffer, VkDeviceSize byteBegin,
                        VkDeviceSize byteEnd);

// A typed view of part of a buffer, for a texel-buffer binding (a samplerBuffer): on
// lavapipe its texelFetch is a vector gather, where a storage-buffer load with an address
// that differs by lane is a per-lane loop with a branch per element.
class BufferView {
 public:
  BufferView() = default;
  // `buffer` must have been made with VK_BUFFER_USAGE_UNIFORM_TEXEL_BUFFER_BIT; offset a
  // multiple of minTexelBufferOffsetAlignment, range / format size <= maxTexelBufferElements.
  BufferView(Context& ctx, const Buffer& buffer, VkFormat format, VkDeviceSize offset, VkDeviceSize range,
             const char* debugName = nullptr);
  ~BufferView();
  BufferView(BufferView&& o) noexcept;
  BufferView& operator=(BufferView&& o) noexcept;
  BufferView(const BufferView&) = delete;
  BufferView& operator=(const BufferView&) = delete;
  VkBufferView handle() const { return view_; }
  explicit operator bool() const { return view_ != VK_NULL_HANDLE; }

 private:
  Context* ctx_ = nullptr;
  VkBufferView view_ = VK_NULL_HANDLE;
};

void setDebugName(Context& ctx, VkObjectType type, uint64_t handle, const char* name);

}  // namespace attnscope
