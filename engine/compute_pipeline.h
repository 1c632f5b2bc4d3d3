// Compute pipelines built once per variant, descriptor sets taken from a per-submission
// arena, and one typed dispatch() that checks what it is given before recording.
#pragma once
#include <volk.h>

#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

#include "engine/buffer.h"
#include "engine/shader_compiler.h"

namespace attnscope {

class Context;

// One descriptor: a window of a storage buffer, a storage image, or a sampled image.
struct Binding {
  VkDescriptorType type = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER;
  BufferWindow buffer;
  VkImageView view = VK_NULL_HANDLE;
  VkSampler sampler = VK_NULL_HANDLE;
  VkImageLayout layout = VK_IMAGE_LAYOUT_GENERAL;

  static Binding storage(const BufferWindow& w) { return {VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, w}; }
  static Binding storage(const Buffer& b) {
    return {VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, {b.handle(), 0, VK_WHOLE_SIZE, 0}};
  }
  static Binding storageImage(VkImageView v) {
    Binding b;
    b.type = VK_DESCRIPTOR_TYPE_STORAGE_IMAGE;
    b.view = v;
    return b;
  }
  static Binding sampled(VkImageView v, VkSampler s, VkImageLayout l) {
    Binding b;
    b.type = VK_DESCRIPTOR_TYPE_COMBINED_IMAGE_SAMPLER;
    b.view = v;
    b.sampler = s;
    b.layout = l;
    return b;
  }
};

struct ComputePipelineDesc {
  std::string shader;                        // e.g. "block_stats.comp"
  ShaderDefines defines;                     // structural variants (-D)
  std::vector<VkDescriptorType> bindings;    // set 0, binding i
  uint32_t pushConstantBytes = 0;
  std::vector<uint32_t> specialization;      // constant_id i = specialization[i]; id 0 = local size x
  std::string debugName;
};

class ComputePipeline {
 public:
  ComputePipeline() = default;
  ComputePipeline(Context& ctx, ShaderCompiler& compiler, const ComputePipelineDesc& desc);
  ~ComputePipeline();
  ComputePipeline(ComputePipeline&& o) noexcept;
  ComputePipeline& operator=(ComputePipeline&& o) noexcept;
  ComputePipeline(const ComputePipeline&) = delete;
  ComputePipeline& operator=(const ComputePipeline&) = delete;

  VkPipeline pipeline() const { return pipeline_; }
  VkPipelineLayout layout() const { return layout_; }
  VkDescriptorSetLayout setLayout() const { return setLayout_; }
  const std::vector<VkDescriptorType>& bindings() const { return bindings_; }
  uint32_t pushConstantBytes() const { return pushBytes_; }
  const std::string& name() const { return name_; }

 private:
  void destroy();
  Context* ctx_ = nullptr;
  VkPipeline pipeline_ = VK_NULL_HANDLE;
  VkPipelineLayout layout_ = VK_NULL_HANDLE;
  VkDescriptorSetLayout setLayout_ = VK_NULL_HANDLE;
  std::vector<VkDescriptorType> bindings_;
  uint32_t pushBytes_ = 0;
  std::string name_;
};

// Descriptor sets for one command buffer's lifetime. Reset only after that command buffer
// has finished on the GPU; grows by adding pools, never by reallocating.
class DescriptorArena {
 public:
  explicit DescriptorArena(Context& ctx);
  ~DescriptorArena();
  DescriptorArena(const DescriptorArena&) = delete;
  DescriptorArena& operator=(const DescriptorArena&) = delete;

  VkDescriptorSet allocate(VkDescriptorSetLayout layout);
  void write(VkDescriptorSet set, const std::vector<VkDescriptorType>& expected,
             std::initializer_list<Binding> bindings, const std::string& what);
  void reset();

 private:
  void addPool();
  Context& ctx_;
  std::vector<VkDescriptorPool> pools_;
  size_t current_ = 0;
};

// Rounds a work size up to whole groups: n is never a multiple of anything.
inline uint32_t groupsFor(uint64_t items, uint32_t perGroup) {
  return uint32_t((items + perGroup - 1) / perGroup);
}

// Binds, pushes and dispatches, after checking the push-constant size, the bindings and the
// device's group-count limits.
void dispatchCompute(Context& ctx, VkCommandBuffer cmd, DescriptorArena& arena,
                     const ComputePipeline& pipeline, std::initializer_list<Binding> bindings,
                     const void* push, uint32_t pushBytes, uint32_t gx, uint32_t gy = 1,
                     uint32_t gz = 1);

template <class Push>
void dispatch(Context& ctx, VkCommandBuffer cmd, DescriptorArena& arena,
              const ComputePipeline& pipeline, std::initializer_list<Binding> bindings,
              const Push& push, uint32_t gx, uint32_t gy = 1, uint32_t gz = 1) {
  dispatchCompute(ctx, cmd, arena, pipeline, bindings, &push, uint32_t(sizeof(Push)), gx, gy, gz);
}

}  // namespace attnscope
