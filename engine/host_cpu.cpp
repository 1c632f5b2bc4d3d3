#include "engine/host_cpu.h"

#include <fstream>

namespace attnscope {

std::string hostCpuDescription() {
  std::ifstream in("/proc/cpuinfo");
  std::string line, model, flags;
  unsigned threads = 0;
  while (std::getline(in, line)) {
    auto value = [&] {
      size_t c = line.find(':');
      return c == std::string::npos || c + 2 > line.size() ? std::string() : line.substr(c + 2);
    };
    if (line.rfind("model name", 0) == 0) {
      ++threads;
      if (model.empty()) model = value();
    } else if (line.rfind("flags", 0) == 0 && flags.empty()) {
      flags = " " + value() + " ";
    }
  }
  std::string simd;
  for (const char* f : {"avx512f", "avx2", "neon", "asimd"})
    if (flags.find(std::string(" ") + f + " ") != std::string::npos) simd += std::string(simd.empty() ? "" : " ") + f;
  if (model.empty()) model = "unknown CPU";
  return model + " (" + std::to_string(threads) + " threads" + (simd.empty() ? "" : "; " + simd) + ")";
}

}  // namespace attnscope
