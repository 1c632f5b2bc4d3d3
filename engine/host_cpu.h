// Which CPU this runs on, for every figure the tools print: the same commit measured 5x
// apart on two hosts, and on lavapipe the CPU is the device itself.
#pragma once
#include <string>

namespace attnscope {

// "AMD EPYC 7B13 (2 threads; avx512f avx2)": the model, the threads the OS offers and the
// widest SIMD it reports.
std::string hostCpuDescription();

}  // namespace attnscope
