// What every pipeline is built on: its descriptor-set layout and pipeline layout, and shader
// modules that live while it is made. One owner each, shared by compute and graphics
// pipelines (which created them by hand, twice).
#pragma once
#include <volk.h>

#include <cstdint>
#include <vector>

namespace attnscope {

class PipelineLayout {
 public:
  PipelineLayout() = default;
  // Set 0 holds one descriptor of types[i] at binding i, visible to `stages`; push constants
  // of pushBytes (0: none) are visible to the same stages.
  PipelineLayout(VkDevice device, const std::vector<VkDescriptorType>& types, VkShaderStageFlags stages,
                 uint32_t pushBytes);
  ~PipelineLayout();
  PipelineLayout(PipelineLayout&& o) noexcept;
  PipelineLayout& operator=(PipelineLayout&& o) noexcept;
  PipelineLayout(const PipelineLayout&) = delete;
  PipelineLayout& operator=(const PipelineLayout&) = delete;

  VkDescriptorSetLayout setLayout() const { return setLayout_; }
  VkPipelineLayout layout() const { return layout_; }

 private:
  void destroy() noexcept;
  VkDevice device_ = VK_NULL_HANDLE;
  VkDescriptorSetLayout setLayout_ = VK_NULL_HANDLE;
  VkPipelineLayout layout_ = VK_NULL_HANDLE;
};

class ShaderModule {
 public:
  ShaderModule(VkDevice device, const std::vector<uint32_t>& spirv);
  ~ShaderModule();
  ShaderModule(const ShaderModule&) = delete;
  ShaderModule& operator=(const ShaderModule&) = delete;
  VkShaderModule handle() const { return module_; }

 private:
  VkDevice device_;
  VkShaderModule module_ = VK_NULL_HANDLE;
};

// A pipeline handle that destroys itself.
class PipelineHandle {
 public:
  PipelineHandle() = default;
  PipelineHandle(VkDevice device, VkPipeline pipeline) : device_(device), pipeline_(pipeline) {}
  ~PipelineHandle();
  PipelineHandle(PipelineHandle&& o) noexcept;
  PipelineHandle& operator=(PipelineHandle&& o) noexcept;
  PipelineHandle(const PipelineHandle&) = delete;
  PipelineHandle& operator=(const PipelineHandle&) = delete;
  VkPipeline get() const { return pipeline_; }

 private:
  VkDevice device_ = VK_NULL_HANDLE;
  VkPipeline pipeline_ = VK_NULL_HANDLE;
};

}  // namespace attnscope
