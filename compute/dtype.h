// Element types of input files and their widening to float32 (on the host, from mapped
// bytes that may be unaligned).
#pragma once
#include <cstdint>
#include <cstring>

#include "compute/half.h"

namespace attnscope {

enum class DType { F32, F16, BF16 };

inline const char* dtypeName(DType t) { return t == DType::F32 ? "F32" : t == DType::F16 ? "F16" : "BF16"; }
inline uint32_t dtypeBytes(DType t) { return t == DType::F32 ? 4 : 2; }

inline void widenToFloat(DType t, const uint8_t* src, uint64_t count, float* dst) {
  if (t == DType::F32) {
    std::memcpy(dst, src, count * 4);
    return;
  }
  for (uint64_t i = 0; i < count; ++i) {
    uint16_t h;
    std::memcpy(&h, src + i * 2, 2);
    dst[i] = t == DType::F16 ? halfToFloat(h) : bf16ToFloat(h);
  }
}

}  // namespace attnscope
