// Writing small input files for tests: .safetensors from named tensors, with or without a
// capture's metadata (the JSON tools/export_qk.py writes under __metadata__["attnscope"]).
#pragma once
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <random>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace attnscope::test {

// A fresh, empty folder of this test process's, the same for every call with the same name,
// removed when the process ends (ATTNSCOPE_KEEP_SCRATCH=1 keeps it). The name carries a
// random part, not only the pid: pids are reused, and a folder a long-gone process left behind
// (with its output files in it) must never pass for this test's output.
inline std::filesystem::path scratchDir(const std::string& name) {
  namespace fs = std::filesystem;
  struct Registry {
    std::mutex mutex;
    std::map<std::string, fs::path> dirs;
    ~Registry() {
      const char* keep = std::getenv("ATTNSCOPE_KEEP_SCRATCH");
      if (keep && *keep && std::string(keep) != "0") return;
      std::error_code ec;
      for (auto& [n, d] : dirs) fs::remove_all(d, ec);
    }
  };
  static Registry registry;
  std::lock_guard lock(registry.mutex);
  auto it = registry.dirs.find(name);
  if (it != registry.dirs.end()) {
    fs::create_directories(it->second);  // a test may have removed it when it was done
    return it->second;
  }
  std::random_device rd;
  char suffix[17];
  std::snprintf(suffix, sizeof suffix, "%08x%08x", rd(), rd());
  fs::path p = fs::temp_directory_path() / ("attnscope-" + name + "-" + suffix);
  fs::remove_all(p);
  fs::create_directories(p);
  return registry.dirs[name] = p;
}

// F32 values, or BF16 (the floats' upper halves, so the test's values are exactly what the
// file holds when they were made BF16-exact).
struct NamedTensor {
  std::string name;
  std::vector<uint64_t> shape;
  std::vector<float> values;
  bool bf16 = false;
};

inline std::string jsonQuoted(const std::string& s) { return nlohmann::json(s).dump(); }

inline void writeSafetensors(const std::filesystem::path& path, const std::vector<NamedTensor>& tensors,
                             const std::string& captureMetadata = "") {
  std::string json = "{\"__metadata__\": {\"format\": \"pt\"" +
                     (captureMetadata.empty() ? "" : ", \"attnscope\": " + jsonQuoted(captureMetadata)) + "}",
              data;
  for (const auto& t : tensors) {
    std::string shape;
    for (size_t i = 0; i < t.shape.size(); ++i) shape += (i ? ", " : "") + std::to_string(t.shape[i]);
    size_t begin = data.size();
    for (float v : t.values) {
      uint32_t bits;
      std::memcpy(&bits, &v, 4);
      if (t.bf16) data.append(reinterpret_cast<const char*>(&bits) + 2, 2);
      else data.append(reinterpret_cast<const char*>(&bits), 4);
    }
    json += ", \"" + t.name + "\": {\"dtype\": \"" + (t.bf16 ? "BF16" : "F32") + "\", \"shape\": [" + shape +
            "], \"data_offsets\": [" + std::to_string(begin) + ", " + std::to_string(data.size()) + "]}";
  }
  json += "}";
  std::ofstream out(path, std::ios::binary);
  uint64_t len = json.size();
  for (int i = 0; i < 8; ++i) out.put(char((len >> (8 * i)) & 0xff));
  out << json << data;
}

// A tensor of `shape` whose values are a cheap deterministic function of their index.
inline NamedTensor patternTensor(const std::string& name, std::vector<uint64_t> shape, float seed = 1) {
  uint64_t count = 1;
  for (uint64_t s : shape) count *= s;
  NamedTensor t{name, shape, std::vector<float>(count)};
  for (uint64_t i = 0; i < count; ++i) t.values[i] = float(((i * 2654435761u + uint64_t(seed * 97)) % 2001) / 1000.0 - 1.0);
  return t;
}

}  // namespace attnscope::test
