#include "engine/shader_compiler.h"

#include <shaderc/shaderc.hpp>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <sstream>
#include <system_error>
#include <cstring>
#include <unistd.h>

#include "engine/error.h"
#include "engine/paths.h"

namespace fs = std::filesystem;

namespace attnscope {

namespace {

// Bump when the compile options change, so old cache entries are not reused.
constexpr const char* kCacheVersion = "attnscope-spirv-v1";

std::string readFile(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) throw Error("cannot read shader file " + p.string());
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// FNV-1a, twice with different offsets: a 128-bit key is plenty for a cache name.
struct Digest {
  uint64_t a = 0xcbf29ce484222325ull, b = 0x84222325cbf29ce4ull;
  void add(const std::string& s) {
    for (unsigned char c : s) {
      a = (a ^ c) * 0x100000001b3ull;
      b = (b ^ c) * 0x100000001b3ull + 1;
    }
    a = (a ^ 0xff) * 0x100000001b3ull;  // separator so "ab"+"c" != "a"+"bc"
  }
  std::string hex() const {
    char buf[40];
    std::snprintf(buf, sizeof buf, "%016llx%016llx", (unsigned long long)a, (unsigned long long)b);
    return buf;
  }
};

class Includer : public shaderc::CompileOptions::IncluderInterface {
 public:
  explicit Includer(fs::path dir) : dir_(std::move(dir)) {}

  shaderc_include_result* GetInclude(const char* requested, shaderc_include_type type,
                                     const char* requesting, size_t) override {
    auto* holder = new Holder;
    fs::path candidates[] = {
        type == shaderc_include_type_relative ? fs::path(requesting).parent_path() / requested
                                              : fs::path(),
        dir_ / "include" / requested,
        dir_ / requested,
    };
    for (auto& c : candidates) {
      if (c.empty() || !fs::exists(c)) continue;
      holder->name = c.string();
      holder->content = readFile(c);
      break;
    }
    if (holder->name.empty()) {
      holder->content = std::string("cannot find include file '") + requested + "'";
    }
    holder->result.source_name = holder->name.c_str();
    holder->result.source_name_length = holder->name.size();
    holder->result.content = holder->content.c_str();
    holder->result.content_length = holder->content.size();
    holder->result.user_data = holder;
    return &holder->result;
  }

  void ReleaseInclude(shaderc_include_result* data) override {
    delete static_cast<Holder*>(data->user_data);
  }

 private:
  struct Holder {
    std::string name, content;
    shaderc_include_result result{};
  };
  fs::path dir_;
};

shaderc_shader_kind kindFor(const std::string& name) {
  auto ext = fs::path(name).extension().string();
  if (ext == ".comp") return shaderc_compute_shader;
  if (ext == ".vert") return shaderc_vertex_shader;
  if (ext == ".frag") return shaderc_fragment_shader;
  throw Error("unknown shader kind for '" + name + "' (expected .comp, .vert or .frag)");
}

}  // namespace

ShaderCompiler::ShaderCompiler() : ShaderCompiler(shaderDir(), cacheDir()) {}

ShaderCompiler::ShaderCompiler(fs::path shaderDir, fs::path cacheDir)
    : dir_(std::move(shaderDir)) {
  if (!cacheDir.empty()) {
    std::error_code ec;
    cache_ = cacheDir / "spirv";
    fs::create_directories(cache_, ec);
    if (ec) cache_.clear();
  }
}

// Every file under include/ takes part in every key: an edit to a shared include can never
// leave a stale binary behind, at the price of recompiling all variants after such an edit.
std::string ShaderCompiler::includeDigest() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!includeDigest_.empty()) return includeDigest_;
  std::vector<fs::path> files;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir_ / "include", ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec))
    if (it->is_regular_file()) files.push_back(it->path());
  std::sort(files.begin(), files.end());
  Digest d;
  for (auto& f : files) {
    d.add(fs::relative(f, dir_).string());
    d.add(readFile(f));
  }
  includeDigest_ = d.hex();
  return includeDigest_;
}

std::vector<uint32_t> ShaderCompiler::compile(const std::string& name,
                                              const ShaderDefines& defines) {
  fs::path path = dir_ / name;
  std::string source = readFile(path);
  const char* debugEnv = std::getenv("ATTNSCOPE_SHADER_DEBUG");
  bool debugInfo = debugEnv && *debugEnv && std::string(debugEnv) != "0";

  Digest key;
  key.add(kCacheVersion);
  key.add(name);
  key.add(source);
  key.add(includeDigest());
  key.add(debugInfo ? "debug" : "release");
  for (auto& [k, v] : defines) {
    key.add(k);
    key.add(v);
  }
  fs::path cached = cache_.empty() ? fs::path() : cache_ / (key.hex() + ".spv");
  if (!cached.empty() && fs::exists(cached)) {
    std::string bytes = readFile(cached);
    if (bytes.size() >= 20 && bytes.size() % 4 == 0) {
      std::vector<uint32_t> words(bytes.size() / 4);
      std::memcpy(words.data(), bytes.data(), bytes.size());
      if (words[0] == 0x07230203u) {
        ++cacheHits_;
        return words;
      }
    }
  }

  shaderc::Compiler compiler;
  shaderc::CompileOptions options;
  options.SetTargetEnvironment(shaderc_target_env_vulkan, shaderc_env_version_vulkan_1_1);
  options.SetSourceLanguage(shaderc_source_language_glsl);
  options.SetIncluder(std::make_unique<Includer>(dir_));
  if (debugInfo) {
    options.SetGenerateDebugInfo();
    options.SetOptimizationLevel(shaderc_optimization_level_zero);
  } else {
    options.SetOptimizationLevel(shaderc_optimization_level_performance);
  }
  for (auto& [k, v] : defines) options.AddMacroDefinition(k, v);

  if (const char* dump = std::getenv("ATTNSCOPE_DUMP_SHADERS"); dump && *dump) {
    auto pre = compiler.PreprocessGlsl(source, kindFor(name), path.string().c_str(), options);
    std::error_code ec;
    fs::create_directories(dump, ec);
    std::ofstream(fs::path(dump) / (fs::path(name).filename().string() + "." + key.hex() + ".glsl"))
        << std::string(pre.cbegin(), pre.cend());
  }

  auto result = compiler.CompileGlslToSpv(source, kindFor(name), path.string().c_str(), options);
  if (result.GetCompilationStatus() != shaderc_compilation_status_success) {
    std::string msg = result.GetErrorMessage();
    // The first line holds "file:line: error: ..." which is what a reader needs.
    auto nl = msg.find('\n');
    std::string first = nl == std::string::npos ? msg : msg.substr(0, nl);
    throw Error("shader compile error: " + first + (result.GetNumErrors() > 1
                                                        ? " (and " + std::to_string(result.GetNumErrors() - 1) + " more)"
                                                        : std::string()));
  }
  std::vector<uint32_t> words(result.cbegin(), result.cend());
  ++compiles_;
  if (!cached.empty()) {
    fs::path tmp = cached;
    // Unique per process and per compile: two threads may write the same key at once.
    static std::atomic<uint64_t> serial{0};
    tmp += ".tmp" + std::to_string(::getpid()) + "." + std::to_string(serial++);
    {
      std::ofstream out(tmp, std::ios::binary);
      out.write(reinterpret_cast<const char*>(words.data()), std::streamsize(words.size() * 4));
    }
    std::error_code ec;
    fs::rename(tmp, cached, ec);  // atomic: a concurrent run never reads half a file
    if (ec) fs::remove(tmp, ec);
  }
  return words;
}

}  // namespace attnscope
