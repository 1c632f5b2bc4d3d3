// What the Python package's Map does, in C++ and without Python: one attention head on one
// device, and the exact quantities a notebook asks of it (rectangles of p or logits, row
// statistics, O = PV, attention received per key, figures). core_module.cpp binds it; every
// long computation runs piece by piece and calls `interrupt` between pieces, so Ctrl-C in a
// notebook stops it within a piece and leaves the map as it was.
#pragma once
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "compute/attention_spec.h"
#include "compute/capture_metadata.h"
#include "compute/gpu_session.h"
#include "compute/head_data.h"
#include "compute/map_job.h"
#include "viz/figure.h"
#include "viz/viewer.h"

namespace attnscope {
class FigureRenderer;
}

namespace attnscope::python {

// Called between pieces of work; throws to stop.
using Interrupt = std::function<void()>;

// One device, its kernels and the PNG renderer, shared by every Map made on it. GPU work
// from several Python threads takes turns (`mutex`): one queue, recorded by one thread.
class Engine {
 public:
  explicit Engine(const std::string& device);
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  GpuSession& session() { return session_; }
  Context& ctx() { return *session_.ctx; }
  Kernels& kernels() { return *session_.kernels; }
  FigureRenderer& pngRenderer();
  const std::string& selector() const { return selector_; }
  std::mutex mutex;

 private:
  std::string selector_;
  GpuSession session_;
  std::unique_ptr<FigureRenderer> renderer_;
};

struct DeviceListing {
  uint32_t index;
  std::string name, type, vulkan;
  bool chosen;
};
// The Vulkan devices attnscope can use, the one chosen by `device` ("" = the best) marked.
std::vector<DeviceListing> listDevices(const std::string& device);

// Row-major [n][d] float32 on the host, with where it came from for messages.
struct HostMatrix {
  uint32_t n = 0, d = 0;
  std::vector<float> values;
};

// Everything a Map is made of, before any GPU work.
struct MapInputs {
  HostMatrix q, k;
  std::optional<HostMatrix> v;
  ResolvedAttention attention;  // spec, and rotary embedding to apply after upload
  std::string description;      // the figures' title
  std::vector<std::string> tokens;  // printable, one per position; may be empty
};

// The attention options a user gives (Python keyword arguments); unset ones come from a
// capture's metadata, else the defaults (causal, 1/sqrt(d), T = 1, no cap).
struct AttentionArgs {
  std::optional<std::string> mask;
  std::optional<uint32_t> window;
  std::optional<double> scale, softcap, temperature;
  bool overrideMetadata = false;
};
// The resolved attention for arrays of n tokens and dimension d (no metadata).
ResolvedAttention resolveForArrays(const AttentionArgs& a, uint32_t n, uint32_t d);

// Q, K (and V when the file has it) of one head of one layer of a capture that
// tools/export_qk.py wrote (or any .safetensors with Q/K names), metadata applied; tokens
// from `tokensPath`, else from the capture's own FILE.tokens.json when it exists.
MapInputs loadCapture(const std::string& path, std::optional<uint32_t> layer, uint32_t head,
                      const AttentionArgs& args, const std::string& tokensPath);

// Throws Error when Q, K (and V) of n tokens would not fit the device's free memory, or the
// host's, with the sizes and what to do.
void checkFits(Engine& engine, uint32_t n, uint32_t d, bool withV);

struct RowStatistics {
  std::vector<double> maxLogit, logSumExp, entropy;  // NaN for rows without keys
};

class MapCore {
 public:
  // Uploads Q, K (V) and applies the rotary embedding when asked. Checks the size against
  // the device's memory first.
  MapCore(std::shared_ptr<Engine> engine, MapInputs inputs);
  ~MapCore();

  const AttentionSpec& spec() const { return in_.attention.spec; }
  bool hasV() const { return bool(in_.v); }
  const std::vector<std::string>& tokens() const { return in_.tokens; }
  const std::string& description() const { return in_.description; }
  // Uploads this map's host Q and K (rotary embedding applied) to another device context:
  // the native viewer's or the browser viewer's server's. The map must outlive its use.
  HeadLoader hostHeadLoader() const;
  Engine& engine() { return *engine_; }

  // The exact p_ij (or logits, masked cells -inf) of the rectangle, [rows][cols] row-major.
  std::vector<float> cells(const MapRegion& r, bool logits, const Interrupt& interrupt);
  RowStatistics rowStatistics(const Interrupt& interrupt);
  // O_i = sum_j p_ij v_j for rows [r0, r1), [rows][d].
  std::vector<float> output(uint32_t r0, uint32_t r1, const Interrupt& interrupt);
  // sum_i p_ij for every key j, in double.
  std::vector<double> received(const Interrupt& interrupt);
  // The figure `attnscope render` draws of the same region and style: RGBA8, height x width x 4.
  std::vector<uint8_t> image(const MapRegion& r, const HeatmapStyle& style, uint32_t width, uint32_t height,
                             const Interrupt& interrupt);

  // Opens the native viewer on this head (a window of its own, with its own device context);
  // returns when the window is closed. Throws Error without a display.
  void view(const HeatmapStyle& style, uint32_t width, uint32_t height, const std::string& screenshot,
            const std::string& script);

 private:
  // Every row's (m, l, t) in one device buffer, computed once (entropy included) and shared
  // by the rectangles, the row statistics and the attention received.
  Buffer& wholeRowStats(const Interrupt& interrupt);
  void runJob(MapJob& job, const Interrupt& interrupt);
  std::vector<double> receivedByTransposedHead(Buffer& stats, const Interrupt& interrupt);

  std::shared_ptr<Engine> engine_;
  MapInputs in_;
  HeadData head_;
  Buffer rowStats_;
  bool rowStatsReady_ = false;
};

}  // namespace attnscope::python
