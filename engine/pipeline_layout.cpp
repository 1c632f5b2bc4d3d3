#include "engine/pipeline_layout.h"

#include <utility>

#include "engine/vk_check.h"

namespace attnscope {

PipelineLayout::PipelineLayout(VkDevice device, const std::vector<VkDescriptorType>& types, VkShaderStageFlags stages,
                               uint32_t pushBytes)
    : device_(device) {
  std::vector<VkDescriptorSetLayoutBinding> lb;
  for (uint32_t i = 0; i < types.size(); ++i) lb.push_back({i, types[i], 1, stages, nullptr});
  VkDescriptorSetLayoutCreateInfo dl{VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO};
  dl.bindingCount = uint32_t(lb.size());
  dl.pBindings = lb.data();
  VK_CHECK(vkCreateDescriptorSetLayout(device, &dl, nullptr, &setLayout_));
  VkPushConstantRange pr{stages, 0, pushBytes};
  VkPipelineLayoutCreateInfo pl{VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO};
  pl.setLayoutCount = 1;
  pl.pSetLayouts = &setLayout_;
  pl.pushConstantRangeCount = pushBytes ? 1 : 0;
  pl.pPushConstantRanges = &pr;
  VkResult r = vkCreatePipelineLayout(device, &pl, nullptr, &layout_);
  if (r != VK_SUCCESS) {
    destroy();
    VK_CHECK_RESULT(r, "vkCreatePipelineLayout");
  }
}

PipelineLayout::~PipelineLayout() { destroy(); }

void PipelineLayout::destroy() noexcept {
  if (layout_) vkDestroyPipelineLayout(device_, layout_, nullptr);
  if (setLayout_) vkDestroyDescriptorSetLayout(device_, setLayout_, nullptr);
  layout_ = VK_NULL_HANDLE;
  setLayout_ = VK_NULL_HANDLE;
}

PipelineLayout::PipelineLayout(PipelineLayout&& o) noexcept { *this = std::move(o); }

PipelineLayout& PipelineLayout::operator=(PipelineLayout&& o) noexcept {
  if (this != &o) {
    destroy();
    device_ = o.device_;
    setLayout_ = std::exchange(o.setLayout_, VK_NULL_HANDLE);
    layout_ = std::exchange(o.layout_, VK_NULL_HANDLE);
  }
  return *this;
}

ShaderModule::ShaderModule(VkDevice device, const std::vector<uint32_t>& spirv) : device_(device) {
  VkShaderModuleCreateInfo mi{VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO};
  mi.codeSize = spirv.size() * 4;
  mi.pCode = spirv.data();
  VK_CHECK(vkCreateShaderModule(device, &mi, nullptr, &module_));
}

ShaderModule::~ShaderModule() { vkDestroyShaderModule(device_, module_, nullptr); }

PipelineHandle::~PipelineHandle() {
  if (pipeline_) vkDestroyPipeline(device_, pipeline_, nullptr);
}

PipelineHandle::PipelineHandle(PipelineHandle&& o) noexcept { *this = std::move(o); }

PipelineHandle& PipelineHandle::operator=(PipelineHandle&& o) noexcept {
  if (this != &o) {
    if (pipeline_) vkDestroyPipeline(device_, pipeline_, nullptr);
    device_ = o.device_;
    pipeline_ = std::exchange(o.pipeline_, VK_NULL_HANDLE);
  }
  return *this;
}

}  // namespace attnscope
