#include "engine/compute_pipeline.h"

#include <utility>

#include "engine/context.h"
#include "engine/vk_check.h"

namespace attnscope {

ComputePipeline::ComputePipeline(Context& ctx, ShaderCompiler& compiler,
                                 const ComputePipelineDesc& desc)
    : ctx_(&ctx), bindings_(desc.bindings), pushBytes_(desc.pushConstantBytes),
      name_(desc.debugName.empty() ? desc.shader : desc.debugName) {
  if (pushBytes_ > ctx.caps().limits.maxPushConstantsSize)
    throw Error("internal: " + name_ + " needs " + std::to_string(pushBytes_) +
                " bytes of push constants; the device allows " +
                std::to_string(ctx.caps().limits.maxPushConstantsSize));
  std::vector<uint32_t> spirv = compiler.compile(desc.shader, desc.defines);
  VkShaderModule module = VK_NULL_HANDLE;
  try {
    std::vector<VkDescriptorSetLayoutBinding> lb;
    for (uint32_t i = 0; i < bindings_.size(); ++i)
      lb.push_back({i, bindings_[i], 1, VK_SHADER_STAGE_COMPUTE_BIT, nullptr});
    VkDescriptorSetLayoutCreateInfo dl{VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO};
    dl.bindingCount = uint32_t(lb.size());
    dl.pBindings = lb.data();
    VK_CHECK(vkCreateDescriptorSetLayout(ctx.device(), &dl, nullptr, &setLayout_));

    VkPushConstantRange pr{VK_SHADER_STAGE_COMPUTE_BIT, 0, pushBytes_};
    VkPipelineLayoutCreateInfo pl{VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO};
    pl.setLayoutCount = 1;
    pl.pSetLayouts = &setLayout_;
    pl.pushConstantRangeCount = pushBytes_ ? 1 : 0;
    pl.pPushConstantRanges = &pr;
    VK_CHECK(vkCreatePipelineLayout(ctx.device(), &pl, nullptr, &layout_));

    VkShaderModuleCreateInfo mi{VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO};
    mi.codeSize = spirv.size() * 4;
    mi.pCode = spirv.data();
    VK_CHECK(vkCreateShaderModule(ctx.device(), &mi, nullptr, &module));

    std::vector<VkSpecializationMapEntry> entries;
    for (uint32_t i = 0; i < desc.specialization.size(); ++i)
      entries.push_back({i, i * 4, 4});
    VkSpecializationInfo si{uint32_t(entries.size()), entries.data(),
                            desc.specialization.size() * 4, desc.specialization.data()};

    VkComputePipelineCreateInfo ci{VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO};
    ci.stage = {VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO};
    ci.stage.stage = VK_SHADER_STAGE_COMPUTE_BIT;
    ci.stage.module = module;
    ci.stage.pName = "main";
    ci.stage.pSpecializationInfo = entries.empty() ? nullptr : &si;
    ci.layout = layout_;
    VK_CHECK(vkCreateComputePipelines(ctx.device(), VK_NULL_HANDLE, 1, &ci, nullptr, &pipeline_));
    vkDestroyShaderModule(ctx.device(), module, nullptr);
    setDebugName(ctx, VK_OBJECT_TYPE_PIPELINE, uint64_t(pipeline_), name_.c_str());
  } catch (...) {
    if (module) vkDestroyShaderModule(ctx.device(), module, nullptr);
    destroy();
    throw;
  }
}

ComputePipeline::~ComputePipeline() { destroy(); }

void ComputePipeline::destroy() {
  if (!ctx_) return;
  if (pipeline_) vkDestroyPipeline(ctx_->device(), pipeline_, nullptr);
  if (layout_) vkDestroyPipelineLayout(ctx_->device(), layout_, nullptr);
  if (setLayout_) vkDestroyDescriptorSetLayout(ctx_->device(), setLayout_, nullptr);
  pipeline_ = VK_NULL_HANDLE;
  layout_ = VK_NULL_HANDLE;
  setLayout_ = VK_NULL_HANDLE;
}

ComputePipeline::ComputePipeline(ComputePipeline&& o) noexcept { *this = std::move(o); }

ComputePipeline& ComputePipeline::operator=(ComputePipeline&& o) noexcept {
  if (this != &o) {
    destroy();
    ctx_ = std::exchange(o.ctx_, nullptr);
    pipeline_ = std::exchange(o.pipeline_, VK_NULL_HANDLE);
    layout_ = std::exchange(o.layout_, VK_NULL_HANDLE);
    setLayout_ = std::exchange(o.setLayout_, VK_NULL_HANDLE);
    bindings_ = std::move(o.bindings_);
    pushBytes_ = o.pushBytes_;
    name_ = std::move(o.name_);
  }
  return *this;
}

DescriptorArena::DescriptorArena(Context& ctx) : ctx_(ctx) { addPool(); }

DescriptorArena::~DescriptorArena() {
  for (auto p : pools_) vkDestroyDescriptorPool(ctx_.device(), p, nullptr);
}

void DescriptorArena::addPool() {
  VkDescriptorPoolSize sizes[] = {{VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, 1024},
                                  {VK_DESCRIPTOR_TYPE_STORAGE_IMAGE, 256},
                                  {VK_DESCRIPTOR_TYPE_COMBINED_IMAGE_SAMPLER, 256},
                                  {VK_DESCRIPTOR_TYPE_UNIFORM_BUFFER, 256}};
  VkDescriptorPoolCreateInfo ci{VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO};
  ci.maxSets = 256;
  ci.poolSizeCount = 4;
  ci.pPoolSizes = sizes;
  VkDescriptorPool pool;
  VK_CHECK(vkCreateDescriptorPool(ctx_.device(), &ci, nullptr, &pool));
  pools_.push_back(pool);
}

VkDescriptorSet DescriptorArena::allocate(VkDescriptorSetLayout layout) {
  for (;;) {
    VkDescriptorSetAllocateInfo ai{VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO};
    ai.descriptorPool = pools_[current_];
    ai.descriptorSetCount = 1;
    ai.pSetLayouts = &layout;
    VkDescriptorSet set;
    VkResult r = vkAllocateDescriptorSets(ctx_.device(), &ai, &set);
    if (r == VK_SUCCESS) return set;
    if (r != VK_ERROR_OUT_OF_POOL_MEMORY && r != VK_ERROR_FRAGMENTED_POOL) VK_CHECK(r);
    if (++current_ == pools_.size()) addPool();
  }
}

void DescriptorArena::write(VkDescriptorSet set, const std::vector<VkDescriptorType>& expected,
                            std::initializer_list<Binding> bindings, const std::string& what) {
  if (bindings.size() != expected.size())
    throw Error("internal: " + what + " takes " + std::to_string(expected.size()) +
                " bindings, got " + std::to_string(bindings.size()));
  std::vector<VkWriteDescriptorSet> writes;
  std::vector<VkDescriptorBufferInfo> bufs(bindings.size());
  std::vector<VkDescriptorImageInfo> imgs(bindings.size());
  uint32_t i = 0;
  for (const Binding& b : bindings) {
    if (b.type != expected[i])
      throw Error("internal: " + what + " binding " + std::to_string(i) + " has the wrong type");
    VkWriteDescriptorSet w{VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET};
    w.dstSet = set;
    w.dstBinding = i;
    w.descriptorCount = 1;
    w.descriptorType = b.type;
    if (b.type == VK_DESCRIPTOR_TYPE_STORAGE_BUFFER || b.type == VK_DESCRIPTOR_TYPE_UNIFORM_BUFFER) {
      if (!b.buffer.buffer) throw Error("internal: " + what + " binding " + std::to_string(i) + " is empty");
      bufs[i] = {b.buffer.buffer, b.buffer.offset, b.buffer.range};
      w.pBufferInfo = &bufs[i];
    } else {
      imgs[i] = {b.sampler, b.view, b.layout};
      w.pImageInfo = &imgs[i];
    }
    writes.push_back(w);
    ++i;
  }
  vkUpdateDescriptorSets(ctx_.device(), uint32_t(writes.size()), writes.data(), 0, nullptr);
}

void DescriptorArena::reset() {
  for (auto p : pools_) VK_CHECK(vkResetDescriptorPool(ctx_.device(), p, 0));
  current_ = 0;
}

void dispatchCompute(Context& ctx, VkCommandBuffer cmd, DescriptorArena& arena,
                     const ComputePipeline& pipeline, std::initializer_list<Binding> bindings,
                     const void* push, uint32_t pushBytes, uint32_t gx, uint32_t gy, uint32_t gz) {
  if (pushBytes != pipeline.pushConstantBytes())
    throw Error("internal: " + pipeline.name() + " expects " +
                std::to_string(pipeline.pushConstantBytes()) + " bytes of push constants, got " +
                std::to_string(pushBytes));
  const auto& lim = ctx.caps().limits;
  if (gx > lim.maxComputeWorkGroupCount[0] || gy > lim.maxComputeWorkGroupCount[1] ||
      gz > lim.maxComputeWorkGroupCount[2])
    throw Error("internal: " + pipeline.name() + " dispatch of " + std::to_string(gx) + "x" +
                std::to_string(gy) + "x" + std::to_string(gz) +
                " groups exceeds the device's limits");
  if (gx == 0 || gy == 0 || gz == 0) return;
  VkDescriptorSet set = arena.allocate(pipeline.setLayout());
  arena.write(set, pipeline.bindings(), bindings, pipeline.name());
  vkCmdBindPipeline(cmd, VK_PIPELINE_BIND_POINT_COMPUTE, pipeline.pipeline());
  vkCmdBindDescriptorSets(cmd, VK_PIPELINE_BIND_POINT_COMPUTE, pipeline.layout(), 0, 1, &set, 0,
                          nullptr);
  if (pushBytes)
    vkCmdPushConstants(cmd, pipeline.layout(), VK_SHADER_STAGE_COMPUTE_BIT, 0, pushBytes, push);
  vkCmdDispatch(cmd, gx, gy, gz);
}

}  // namespace attnscope
