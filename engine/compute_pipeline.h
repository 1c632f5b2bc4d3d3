// Compute pipelines built once per variant, descriptor sets taken from a per-submission
// arena, and one typed dispatch() that checks what it is given before recording.
#pragma once
#include <volk.h>

#include <cstdint>
#include <initializer_list>
#include <map>
#include <string>
#include <vector>

#include "engine/buffer.h"
#include "engine/pipeline_layout.h"
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
  VkBufferView texelView = VK_NULL_HANDLE;

  static Binding storage(const BufferWindow& w) { return {VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, w}; }
  static Binding storage(const Buffer& b) {
    return {VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, {b.handle(), 0, VK_WHOLE_SIZE, 0}};
  }
  static Binding texels(VkBufferView v) {  // a samplerBuffer
    Binding b;
    b.type = VK_DESCRIPTOR_TYPE_UNIFORM_TEXEL_BUFFER;
    b.texelView = v;
    return b;
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
  uint32_t pushConstantBytes = 0;            // sizeof the C++ push struct: checked against the shader
  // Specialization constants: id (the SPEC_ names of shaders/include/params.h) -> value. A
  // workgroup size set with local_size_x_id follows its constant.
  std::map<uint32_t, uint32_t> constants;
  std::string debugName;
};

// A compute pipeline whose geometry comes from its SPIR-V: the workgroup size (after
// specialization), the descriptor types of set 0 and the push-constant size are read from
// the shader, so no call site states them again.
class ComputePipeline {
 public:
  ComputePipeline() = default;
  ComputePipeline(Context& ctx, ShaderCompiler& compiler, const ComputePipelineDesc& desc);
  ComputePipeline(ComputePipeline&&) noexcept = default;
  ComputePipeline& operator=(ComputePipeline&&) noexcept = default;
  ComputePipeline(const ComputePipeline&) = delete;
  ComputePipeline& operator=(const ComputePipeline&) = delete;

  VkPipeline pipeline() const { return pipeline_.get(); }
  VkPipelineLayout layout() const { return layout_.layout(); }
  VkDescriptorSetLayout setLayout() const { return layout_.setLayout(); }
  const std::vector<VkDescriptorType>& bindings() const { return bindings_; }
  uint32_t pushConstantBytes() const { return pushBytes_; }
  // Invocations per workgroup along x, y, z.
  const uint32_t* localSize() const { return localSize_; }
  const std::string& name() const { return name_; }

 private:
  PipelineLayout layout_;
  PipelineHandle pipeline_;
  std::vector<VkDescriptorType> bindings_;
  uint32_t pushBytes_ = 0;
  uint32_t localSize_[3] = {1, 1, 1};
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

// How much work a dispatch covers: invocations (one per item, rounded up to whole
// workgroups of the pipeline's own size, which the shader bounds-checks), or workgroups for
// shaders whose group owns an item (one row per group).
struct Items {
  uint64_t x, y = 1, z = 1;
};
struct Groups {
  uint32_t x, y = 1, z = 1;
};

// Binds, pushes and dispatches, after checking the push-constant size, the bindings and the
// device's group-count limits.
void dispatchCompute(Context& ctx, VkCommandBuffer cmd, DescriptorArena& arena,
                     const ComputePipeline& pipeline, std::initializer_list<Binding> bindings,
                     const void* push, uint32_t pushBytes, Groups groups);
Groups groupsFor(const ComputePipeline& pipeline, Items items);

template <class Push>
void dispatch(Context& ctx, VkCommandBuffer cmd, DescriptorArena& arena, const ComputePipeline& pipeline,
              std::initializer_list<Binding> bindings, const Push& push, Items items) {
  dispatchCompute(ctx, cmd, arena, pipeline, bindings, &push, uint32_t(sizeof(Push)), groupsFor(pipeline, items));
}

template <class Push>
void dispatch(Context& ctx, VkCommandBuffer cmd, DescriptorArena& arena, const ComputePipeline& pipeline,
              std::initializer_list<Binding> bindings, const Push& push, Groups groups) {
  dispatchCompute(ctx, cmd, arena, pipeline, bindings, &push, uint32_t(sizeof(Push)), groups);
}

}  // namespace attnscope
