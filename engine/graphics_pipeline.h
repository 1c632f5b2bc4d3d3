// A graphics pipeline for one render pass: vertex + fragment shader, optional vertex
// attributes, optional alpha blending, combined image samplers in set 0, push constants
// visible to both stages, dynamic viewport and scissor.
#pragma once
#include <volk.h>

#include <string>
#include <vector>

#include "engine/shader_compiler.h"

namespace attnscope {

class Context;

struct GraphicsPipelineDesc {
  std::string vertexShader, fragmentShader;
  std::vector<VkVertexInputAttributeDescription> attributes;  // binding 0
  uint32_t vertexStride = 0;
  bool alphaBlend = false;
  uint32_t samplers = 0;  // combined image samplers at bindings 0..samplers-1 (fragment stage)
  uint32_t pushConstantBytes = 0;
  VkRenderPass renderPass = VK_NULL_HANDLE;
  std::string debugName;
};

class GraphicsPipeline {
 public:
  GraphicsPipeline() = default;
  GraphicsPipeline(Context& ctx, ShaderCompiler& compiler, const GraphicsPipelineDesc& desc);
  ~GraphicsPipeline();
  GraphicsPipeline(const GraphicsPipeline&) = delete;
  GraphicsPipeline& operator=(const GraphicsPipeline&) = delete;

  VkPipeline pipeline() const { return pipeline_; }
  VkPipelineLayout layout() const { return layout_; }
  VkDescriptorSetLayout setLayout() const { return setLayout_; }
  uint32_t pushConstantBytes() const { return pushBytes_; }

 private:
  Context* ctx_ = nullptr;
  VkPipeline pipeline_ = VK_NULL_HANDLE;
  VkPipelineLayout layout_ = VK_NULL_HANDLE;
  VkDescriptorSetLayout setLayout_ = VK_NULL_HANDLE;
  uint32_t pushBytes_ = 0;
};

}  // namespace attnscope
