#include "engine/spirv_reflect.h"

#include <algorithm>
#include <functional>
#include <unordered_map>

#include "engine/error.h"

namespace attnscope {

namespace {

// The few opcodes, decorations and storage classes read here (SPIR-V 1.x specification).
enum : uint32_t {
  OpExecutionMode = 16,
  OpTypeInt = 21,
  OpTypeFloat = 22,
  OpTypeVector = 23,
  OpTypeImage = 25,
  OpTypeSampler = 26,
  OpTypeSampledImage = 27,
  OpTypeArray = 28,
  OpTypeRuntimeArray = 29,
  OpTypeStruct = 30,
  OpTypePointer = 32,
  OpSpecConstantComposite = 51,
  OpVariable = 59,
  OpDecorate = 71,
  OpMemberDecorate = 72,
  OpExecutionModeId = 331,
  ModeLocalSize = 17,
  ModeLocalSizeId = 38,
  DecSpecId = 1,
  DecBlock = 2,
  DecBufferBlock = 3,
  DecBuiltIn = 11,
  DecBinding = 33,
  DecDescriptorSet = 34,
  DecOffset = 35,
  BuiltInWorkgroupSize = 25,
  StorageUniformConstant = 0,
  StorageUniform = 2,
  StoragePushConstant = 9,
  StorageBuffer = 12,
};

}  // namespace

SpirvReflection reflectSpirv(const std::vector<uint32_t>& code, const std::string& what) {
  if (code.size() < 5 || code[0] != 0x07230203) throw Error("internal: " + what + " is not SPIR-V");
  struct Type {
    uint32_t op = 0;
    std::vector<uint32_t> args;
  };
  std::unordered_map<uint32_t, Type> types;
  std::unordered_map<uint32_t, uint32_t> specId, binding, set;
  std::unordered_map<uint32_t, bool> block, bufferBlock;
  std::unordered_map<uint32_t, std::vector<uint32_t>> memberOffsets;
  std::vector<std::pair<uint32_t, uint32_t>> variables;  // (pointer type, id) of interface variables
  std::vector<uint32_t> variableStorage;
  uint32_t workgroupSizeId = 0;
  std::unordered_map<uint32_t, std::vector<uint32_t>> composites;
  SpirvReflection r;

  for (size_t at = 5; at < code.size();) {
    uint32_t op = code[at] & 0xffff, count = code[at] >> 16;
    if (count == 0 || at + count > code.size()) throw Error("internal: " + what + " has a malformed instruction");
    const uint32_t* w = &code[at];
    switch (op) {
      case OpExecutionMode:
        if (w[2] == ModeLocalSize && count >= 6)
          for (int i = 0; i < 3; ++i) r.localSize[i] = w[3 + i];
        break;
      case OpExecutionModeId:
        if (w[2] == ModeLocalSizeId) throw Error("internal: " + what + " uses LocalSizeId, which is not read here");
        break;
      case OpDecorate:
        if (w[2] == DecSpecId) specId[w[1]] = w[3];
        else if (w[2] == DecBinding) binding[w[1]] = w[3];
        else if (w[2] == DecDescriptorSet) set[w[1]] = w[3];
        else if (w[2] == DecBlock) block[w[1]] = true;
        else if (w[2] == DecBufferBlock) bufferBlock[w[1]] = true;
        else if (w[2] == DecBuiltIn && w[3] == BuiltInWorkgroupSize) workgroupSizeId = w[1];
        break;
      case OpMemberDecorate:
        if (w[3] == DecOffset) {
          auto& v = memberOffsets[w[1]];
          if (v.size() <= w[2]) v.resize(w[2] + 1, 0);
          v[w[2]] = w[4];
        }
        break;
      case OpTypeInt:
      case OpTypeFloat:
      case OpTypeVector:
      case OpTypeImage:
      case OpTypeSampler:
      case OpTypeSampledImage:
      case OpTypeArray:
      case OpTypeRuntimeArray:
      case OpTypeStruct:
      case OpTypePointer:
        types[w[1]] = Type{op, std::vector<uint32_t>(w + 2, w + count)};
        break;
      case OpSpecConstantComposite:
        composites[w[2]] = std::vector<uint32_t>(w + 3, w + count);
        break;
      case OpVariable:
        variables.push_back({w[1], w[2]});
        variableStorage.push_back(w[3]);
        break;
      default:
        break;
    }
    at += count;
  }

  // The workgroup size: set by specialization constants when the shader says local_size_x_id.
  if (workgroupSizeId && composites.count(workgroupSizeId)) {
    const auto& parts = composites[workgroupSizeId];
    for (size_t i = 0; i < parts.size() && i < 3; ++i)
      if (specId.count(parts[i])) r.localSizeSpecId[i] = int32_t(specId[parts[i]]);
  }

  auto scalarBytes = [&](uint32_t type) -> uint32_t {
    auto it = types.find(type);
    if (it == types.end()) return 0;
    if (it->second.op == OpTypeInt || it->second.op == OpTypeFloat) return it->second.args[0] / 8;
    if (it->second.op == OpTypeVector) {
      auto e = types.find(it->second.args[0]);
      return e == types.end() ? 0 : e->second.args[0] / 8 * it->second.args[1];
    }
    return 0;
  };
  auto follow = [&](uint32_t id) -> const Type* {
    auto it = types.find(id);
    return it == types.end() ? nullptr : &it->second;
  };
  auto isBufferImage = [&](uint32_t id) {  // OpTypeImage with Dim = Buffer (5)
    const Type* i = follow(id);
    return i && i->op == OpTypeImage && i->args.size() > 1 && i->args[1] == 5;
  };

  for (size_t v = 0; v < variables.size(); ++v) {
    auto [ptrType, id] = variables[v];
    uint32_t storage = variableStorage[v];
    const Type* ptr = follow(ptrType);
    if (!ptr || ptr->op != OpTypePointer) continue;
    uint32_t pointee = ptr->args[1];
    const Type* t = follow(pointee);
    while (t && (t->op == OpTypeArray || t->op == OpTypeRuntimeArray)) {
      pointee = t->args[0];
      t = follow(pointee);
    }
    if (storage == StoragePushConstant && t && t->op == OpTypeStruct) {
      // The block's size: the last member's offset plus its size (params.h holds only
      // 32-bit scalars, and nested structs like `P` are followed one level).
      std::function<uint32_t(uint32_t)> sizeOf = [&](uint32_t structId) -> uint32_t {
        const Type* s = follow(structId);
        if (!s || s->op != OpTypeStruct) return scalarBytes(structId);
        uint32_t end = 0;
        const auto& offs = memberOffsets[structId];
        for (size_t m = 0; m < s->args.size(); ++m) {
          uint32_t mb = sizeOf(s->args[m]);
          if (m < offs.size()) end = std::max(end, offs[m] + mb);
        }
        return end;
      };
      r.pushConstantBytes = sizeOf(pointee);
      continue;
    }
    if (!binding.count(id)) continue;
    if (set.count(id) && set[id] != 0) throw Error("internal: " + what + " uses a descriptor set other than 0");
    VkDescriptorType type;
    if (storage == StorageBuffer || (storage == StorageUniform && bufferBlock.count(pointee)))
      type = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER;
    else if (storage == StorageUniform && block.count(pointee))
      type = VK_DESCRIPTOR_TYPE_UNIFORM_BUFFER;
    else if (storage == StorageUniformConstant && t && t->op == OpTypeImage)
      type = t->args[5] == 2 ? VK_DESCRIPTOR_TYPE_STORAGE_IMAGE : VK_DESCRIPTOR_TYPE_SAMPLED_IMAGE;
    else if (storage == StorageUniformConstant && t && t->op == OpTypeSampledImage)
      // A samplerBuffer (image Dim Buffer) is a uniform texel buffer, not an image + sampler.
      type = isBufferImage(t->args.empty() ? 0 : t->args[0]) ? VK_DESCRIPTOR_TYPE_UNIFORM_TEXEL_BUFFER
                                                             : VK_DESCRIPTOR_TYPE_COMBINED_IMAGE_SAMPLER;
    else if (storage == StorageUniformConstant && t && t->op == OpTypeSampler)
      type = VK_DESCRIPTOR_TYPE_SAMPLER;
    else
      throw Error("internal: " + what + " binding " + std::to_string(binding[id]) + " is of a kind not handled here");
    uint32_t b = binding[id];
    if (r.bindings.size() <= b) r.bindings.resize(b + 1, VK_DESCRIPTOR_TYPE_MAX_ENUM);
    r.bindings[b] = type;
  }
  for (size_t b = 0; b < r.bindings.size(); ++b)
    if (r.bindings[b] == VK_DESCRIPTOR_TYPE_MAX_ENUM)
      throw Error("internal: " + what + " leaves binding " + std::to_string(b) + " unused; bindings must be 0..n-1");
  return r;
}

}  // namespace attnscope
