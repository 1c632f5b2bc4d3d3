// A graphics pipeline for one render pass: vertex + fragment shader, optional vertex
// attributes, optional alpha blending, combined image samplers in set 0, push constants
// visible to both stages, dynamic viewport and scissor.
#pragma once
#include <volk.h>

#include <string>
#include <vector>

#include "engine/pipeline_layout.h"
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
  GraphicsPipeline(GraphicsPipeline&&) noexcept = default;
  GraphicsPipeline& operator=(GraphicsPipeline&&) noexcept = default;
  GraphicsPipeline(const GraphicsPipeline&) = delete;
  GraphicsPipeline& operator=(const GraphicsPipeline&) = delete;

  VkPipeline pipeline() const { return pipeline_.get(); }
  VkPipelineLayout layout() const { return layout_.layout(); }
  VkDescriptorSetLayout setLayout() const { return layout_.setLayout(); }
  uint32_t pushConstantBytes() const { return pushBytes_; }

 private:
  PipelineLayout layout_;
  PipelineHandle pipeline_;
  uint32_t pushBytes_ = 0;
};

}  // namespace attnscope
