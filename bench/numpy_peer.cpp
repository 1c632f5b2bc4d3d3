#include "bench/numpy_peer.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <random>

#include "compute/attention_spec.h"
#include "compute/head_data.h"
#include "compute/map_job.h"
#include "compute/npy.h"
#include "engine/commands.h"
#include "engine/context.h"
#include "engine/error.h"

namespace attnscope {

namespace fs = std::filesystem;

namespace {

std::string shellQuoted(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

// Runs a shell command and returns its standard output (its standard error passes through).
bool runCapture(const std::string& command, std::string& out) {
  std::FILE* p = popen(command.c_str(), "r");
  if (!p) return false;
  char buf[4096];
  size_t got;
  while ((got = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, got);
  return pclose(p) == 0;
}

fs::path peerScript() {
  if (const char* dir = std::getenv("ATTNSCOPE_BENCH_DIR")) return fs::path(dir) / "numpy_overview.py";
  return fs::path(ATTNSCOPE_SOURCE_BENCH_DIR) / "numpy_overview.py";
}

// The first Python that imports numpy, or "".
std::string findPython(const std::string& asked, std::string& tried) {
  std::vector<std::string> candidates;
  if (!asked.empty()) candidates.push_back(asked);
  else {
    if (const char* env = std::getenv("ATTNSCOPE_PYTHON"); env && *env) candidates.push_back(env);
    candidates.push_back("/usr/bin/python3");
    candidates.push_back("python3");
  }
  for (const std::string& py : candidates) {
    std::string out;
    tried += (tried.empty() ? "" : ", ") + py;
    if (runCapture(shellQuoted(py) + " -c 'import numpy' 2>/dev/null", out)) return py;
  }
  return "";
}

void writeMatrix(const fs::path& path, const std::vector<float>& m, uint32_t rows, uint32_t cols) {
  NpyWriter w(path.string(), rows, cols);
  for (uint32_t r = 0; r < rows; ++r) w.write(r, 0, m.data() + size_t(r) * cols, cols);
  w.commit();
}

struct Timed {
  double seconds = 1e300;
  std::vector<float> texels;
};

Timed attnscopeOverview(Context& ctx, Kernels& kernels, const HeadData& head, const AttentionSpec& spec,
                        uint32_t texels, int repeat) {
  Timed best;
  for (int r = 0; r < repeat; ++r) {
    MapJob job(ctx, kernels, head, spec, {0, spec.n, 0, spec.n}, texels, texels);
    auto t0 = std::chrono::steady_clock::now();
    runMapJob(ctx, job);
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (s < best.seconds) {
      best.seconds = s;
      best.texels = readbackImage(ctx, job.image());
    }
  }
  return best;
}

// Texel by texel, max and mean: the worst relative difference where the value is not tiny,
// and how many texels differ by more than 1e-4 relative (+1e-7 absolute).
nlohmann::json agreement(const std::vector<float>& ours, const NpyMatrix& peer) {
  double worst[2] = {0, 0};
  uint64_t off = 0, count = peer.rows;
  for (uint64_t t = 0; t < count; ++t)
    for (int c = 0; c < 2; ++c) {
      double a = ours[t * 4 + (c == 0 ? kChannelMax : kChannelMean)], b = peer.data[t * 2 + c];
      double diff = std::abs(a - b);
      if (diff > 1e-4 * std::abs(b) + 1e-7) ++off;
      if (std::abs(b) > 1e-6) worst[c] = std::max(worst[c], diff / std::abs(b));
    }
  return {{"texels", count},
          {"max_rel_diff", {{"max", worst[0]}, {"mean", worst[1]}}},
          {"texels_differing", off},
          {"tolerance", "1e-4 relative + 1e-7"}};
}

}  // namespace

nlohmann::json numpyPeerFigures(Context& ctx, Kernels& kernels, const NumpyPeerOptions& o) {
  std::string tried;
  std::string python = findPython(o.python, tried);
  if (python.empty())
    return {{"skipped", "no Python with numpy (tried " + tried + "): install python3-numpy, or give --numpy-python"}};
  fs::path script = peerScript();
  if (!fs::exists(script)) return {{"skipped", "the peer script " + script.string() + " is missing"}};
  fs::path dir = fs::temp_directory_path() / ("attnscope-numpy-peer-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  struct Cleanup {
    fs::path d;
    ~Cleanup() {
      std::error_code ec;
      fs::remove_all(d, ec);
    }
  } cleanup{dir};

  nlohmann::json sizes = nlohmann::json::array(), peerInfo;
  for (uint32_t n : o.tokens) {
    std::fprintf(stderr, "attnscope bench: whole-map overview at %u tokens, attnscope and numpy (%s)\n", n, python.c_str());
    // Q and K as a model's might be: unit normal entries, so logits q.k/sqrt(d) ~ N(0, 1).
    std::mt19937 rng(1234 + n);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    std::vector<float> q(size_t(n) * o.d), k(size_t(n) * o.d);
    for (float& x : q) x = normal(rng);
    for (float& x : k) x = normal(rng);
    writeMatrix(dir / "q.npy", q, n, o.d);
    writeMatrix(dir / "k.npy", k, n, o.d);

    HeadData head = HeadData::fromHost(ctx, n, o.d, q.data(), k.data(), nullptr);
    AttentionSpec spec;
    spec.n = n;
    spec.d = o.d;
    spec.mask = MaskKind::Causal;
    Timed ours = attnscopeOverview(ctx, kernels, head, spec, o.texels, o.repeat);

    std::string out;
    std::string cmd = shellQuoted(python) + " " + shellQuoted(script.string()) + " --q " + shellQuoted((dir / "q.npy").string()) +
                      " --k " + shellQuoted((dir / "k.npy").string()) + " --texels " + std::to_string(o.texels) +
                      " --repeat " + std::to_string(o.repeat) + " --out " + shellQuoted((dir / "peer.npy").string());
    if (!runCapture(cmd, out)) return {{"skipped", "the numpy peer failed: " + cmd}};
    nlohmann::json peer;
    try {
      peer = nlohmann::json::parse(out.substr(out.rfind('{')));
    } catch (const std::exception&) {
      return {{"skipped", "the numpy peer printed no result: " + out}};
    }
    NpyMatrix theirs = readNpyMatrix((dir / "peer.npy").string(), "numpy overview");
    double numpySeconds = peer.value("seconds", 0.0);
    peerInfo = {{"python", python}, {"numpy", peer.value("numpy", "")}, {"blas", peer.value("blas", "")},
                {"chunk_rows", peer.value("chunk_rows", 0)}};
    sizes.push_back({{"n", n},
                     {"attnscope_seconds", std::round(ours.seconds * 1000) / 1000},
                     {"numpy_seconds", numpySeconds},
                     {"ratio", numpySeconds > 0 ? std::round(ours.seconds / numpySeconds * 1000) / 1000 : 0.0},
                     {"agreement", agreement(ours.texels, theirs)}});
  }
  return {{"what", "whole-map overview, max and mean pooled to " + std::to_string(o.texels) + "^2, causal, d = " +
                       std::to_string(o.d) + ", best of " + std::to_string(o.repeat) + " each; ratio = attnscope / numpy"},
          {"peer", peerInfo},
          {"sizes", sizes}};
}

}  // namespace attnscope
