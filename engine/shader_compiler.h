// GLSL -> SPIR-V at run time with shaderc, #include resolved from shaders/include, and an
// on-disk cache keyed by the source, every include file and the defines, so a second run
// starts without compiling.
#pragma once
#include <atomic>
#include <cstdint>
#include <filesystem>
#include <mutex>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace attnscope {

using ShaderDefines = std::vector<std::pair<std::string, std::string>>;

class ShaderCompiler {
 public:
  ShaderCompiler();  // uses shaderDir() and cacheDir()
  ShaderCompiler(std::filesystem::path shaderDir, std::filesystem::path cacheDir);

  // `name` is a path relative to the shader folder, e.g. "block_stats.comp". Throws Error
  // naming the file and line of a compile error. Safe to call from several threads at once
  // (the kernel tuner compiles its candidates in parallel).
  std::vector<uint32_t> compile(const std::string& name, const ShaderDefines& defines = {});

  // How many compiles were served from the disk cache (for tests and the info command).
  uint64_t cacheHits() const { return cacheHits_; }
  uint64_t compiles() const { return compiles_; }
  const std::filesystem::path& directory() const { return dir_; }

 private:
  std::string includeDigest();
  std::filesystem::path dir_;
  std::filesystem::path cache_;
  std::string includeDigest_;
  std::mutex mutex_;  // guards includeDigest_
  std::atomic<uint64_t> cacheHits_{0};
  std::atomic<uint64_t> compiles_{0};
};

}  // namespace attnscope
