#include "engine/compute_pipeline.h"

#include <utility>

#include "engine/context.h"
#include "engine/spirv_reflect.h"
#include "engine/vk_check.h"

namespace attnscope {

ComputePipeline::ComputePipeline(Context& ctx, ShaderCompiler& compiler, const ComputePipelineDesc& desc)
    : name_(desc.debugName.empty() ? desc.shader : desc.debugName) {
  std::vector<uint32_t> spirv = compiler.compile(desc.shader, desc.defines);
  SpirvReflection r = reflectSpirv(spirv, desc.shader);
  if (r.pushConstantBytes != desc.pushConstantBytes)
    throw Error("internal: " + name_ + " declares " + std::to_string(r.pushConstantBytes) +
                " bytes of push constants but the C++ side passes " + std::to_string(desc.pushConstantBytes));
  if (desc.pushConstantBytes > ctx.caps().limits.maxPushConstantsSize)
    throw Error("internal: " + name_ + " needs " + std::to_string(desc.pushConstantBytes) +
                " bytes of push constants; the device allows " +
                std::to_string(ctx.caps().limits.maxPushConstantsSize));
  bindings_ = r.bindings;
  pushBytes_ = desc.pushConstantBytes;

  // Specialization constants; the workgroup size follows the ones that set it. An id the
  // shader does not use (a variant that compiled it out) changes nothing, as Vulkan allows.
  std::vector<VkSpecializationMapEntry> entries;
  std::vector<uint32_t> values;
  for (int i = 0; i < 3; ++i) localSize_[i] = r.localSize[i];
  for (const auto& [id, value] : desc.constants) {
    for (int i = 0; i < 3; ++i)
      if (r.localSizeSpecId[i] == int32_t(id)) localSize_[i] = value;
    entries.push_back({id, uint32_t(values.size() * 4), 4});
    values.push_back(value);
  }
  VkSpecializationInfo si{uint32_t(entries.size()), entries.data(), values.size() * 4, values.data()};

  layout_ = PipelineLayout(ctx.device(), bindings_, VK_SHADER_STAGE_COMPUTE_BIT, pushBytes_);
  ShaderModule module(ctx.device(), spirv);
  VkComputePipelineCreateInfo ci{VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO};
  ci.stage = {VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO};
  ci.stage.stage = VK_SHADER_STAGE_COMPUTE_BIT;
  ci.stage.module = module.handle();
  ci.stage.pName = "main";
  ci.stage.pSpecializationInfo = entries.empty() ? nullptr : &si;
  ci.layout = layout_.layout();
  VkPipeline pipeline = VK_NULL_HANDLE;
  VK_CHECK(vkCreateComputePipelines(ctx.device(), VK_NULL_HANDLE, 1, &ci, nullptr, &pipeline));
  pipeline_ = PipelineHandle(ctx.device(), pipeline);
  setDebugName(ctx, VK_OBJECT_TYPE_PIPELINE, uint64_t(pipeline), name_.c_str());
}

DescriptorArena::DescriptorArena(Context& ctx) : ctx_(ctx) { addPool(); }

DescriptorArena::~DescriptorArena() {
  for (auto p : pools_) vkDestroyDescriptorPool(ctx_.device(), p, nullptr);
}

void DescriptorArena::addPool() {
  VkDescriptorPoolSize sizes[] = {{VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, 1024},
                                  {VK_DESCRIPTOR_TYPE_STORAGE_IMAGE, 256},
                                  {VK_DESCRIPTOR_TYPE_COMBINED_IMAGE_SAMPLER, 256},
                                  {VK_DESCRIPTOR_TYPE_UNIFORM_BUFFER, 256},
                                  {VK_DESCRIPTOR_TYPE_UNIFORM_TEXEL_BUFFER, 256}};
  VkDescriptorPoolCreateInfo ci{VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO};
  ci.maxSets = 256;
  ci.poolSizeCount = 5;
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
    if (r != VK_ERROR_OUT_OF_POOL_MEMORY && r != VK_ERROR_FRAGMENTED_POOL) VK_CHECK_RESULT(r, "vkAllocateDescriptorSets");
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
  std::vector<VkBufferView> views(bindings.size());
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
    } else if (b.type == VK_DESCRIPTOR_TYPE_UNIFORM_TEXEL_BUFFER) {
      if (!b.texelView) throw Error("internal: " + what + " binding " + std::to_string(i) + " is empty");
      views[i] = b.texelView;
      w.pTexelBufferView = &views[i];
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

Groups groupsFor(const ComputePipeline& pipeline, Items items) {
  const uint32_t* l = pipeline.localSize();
  uint64_t n[3] = {items.x, items.y, items.z};
  uint64_t g[3];
  for (int i = 0; i < 3; ++i) {
    g[i] = (n[i] + l[i] - 1) / l[i];
    if (g[i] > UINT32_MAX) throw Error("internal: " + pipeline.name() + " dispatch of " + std::to_string(n[i]) + " items is too large");
  }
  return {uint32_t(g[0]), uint32_t(g[1]), uint32_t(g[2])};
}

void dispatchCompute(Context& ctx, VkCommandBuffer cmd, DescriptorArena& arena,
                     const ComputePipeline& pipeline, std::initializer_list<Binding> bindings,
                     const void* push, uint32_t pushBytes, Groups groups) {
  if (pushBytes != pipeline.pushConstantBytes())
    throw Error("internal: " + pipeline.name() + " expects " +
                std::to_string(pipeline.pushConstantBytes()) + " bytes of push constants, got " +
                std::to_string(pushBytes));
  const auto& lim = ctx.caps().limits;
  if (groups.x > lim.maxComputeWorkGroupCount[0] || groups.y > lim.maxComputeWorkGroupCount[1] ||
      groups.z > lim.maxComputeWorkGroupCount[2])
    throw Error("internal: " + pipeline.name() + " dispatch of " + std::to_string(groups.x) + "x" +
                std::to_string(groups.y) + "x" + std::to_string(groups.z) +
                " groups exceeds the device's limits");
  if (groups.x == 0 || groups.y == 0 || groups.z == 0) return;
  VkDescriptorSet set = arena.allocate(pipeline.setLayout());
  arena.write(set, pipeline.bindings(), bindings, pipeline.name());
  vkCmdBindPipeline(cmd, VK_PIPELINE_BIND_POINT_COMPUTE, pipeline.pipeline());
  vkCmdBindDescriptorSets(cmd, VK_PIPELINE_BIND_POINT_COMPUTE, pipeline.layout(), 0, 1, &set, 0,
                          nullptr);
  if (pushBytes)
    vkCmdPushConstants(cmd, pipeline.layout(), VK_SHADER_STAGE_COMPUTE_BIT, 0, pushBytes, push);
  vkCmdDispatch(cmd, groups.x, groups.y, groups.z);
}

}  // namespace attnscope
