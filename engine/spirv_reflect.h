// What a compute shader's SPIR-V says about itself, read once when its pipeline is built:
// the workgroup size (with the specialization constants that set it), the descriptor type of
// every binding of set 0 and the push-constant block's size. So C++ states none of these a
// second time: dispatch geometry and layouts follow the shader.
#pragma once
#include <volk.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace attnscope {

struct SpirvReflection {
  uint32_t localSize[3] = {1, 1, 1};       // the defaults written in the shader
  int32_t localSizeSpecId[3] = {-1, -1, -1};  // set by a specialization constant (local_size_x_id)
  std::vector<VkDescriptorType> bindings;  // set 0, binding i
  uint32_t pushConstantBytes = 0;          // 0: no push constants
};

// Throws Error naming `what` when the module is malformed or uses something not handled
// here (descriptor sets other than 0, unknown descriptor kinds).
SpirvReflection reflectSpirv(const std::vector<uint32_t>& spirv, const std::string& what);

}  // namespace attnscope
