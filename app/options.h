// Command-line options shared by the subcommands, and what they turn into: a device, an
// input head, an attention spec, a region and a figure style.
#pragma once
#include <CLI/CLI.hpp>

#include <memory>
#include <optional>
#include <string>

#include "compute/attention_spec.h"
#include "compute/head_data.h"
#include "compute/head_source.h"
#include "compute/kernels.h"
#include "compute/map_job.h"
#include "compute/npy.h"
#include "compute/synthetic.h"
#include "engine/context.h"
#include "engine/shader_compiler.h"
#include "viz/figure.h"

namespace attnscope {

struct DeviceOptions {
  std::string device;
  bool validate = false;
  bool portable = false;
  void add(CLI::App& app);
  ContextOptions context() const;
};

struct InputOptions {
  std::string preset = "mixed";
  uint32_t tokens = 4096;
  uint32_t dim = 64;
  uint32_t heads = 4;
  uint32_t head = 0;
  uint32_t dModel = 128;
  uint32_t seed = 1;
  std::string qPath, kPath, vPath;  // .npy [n, d], or FILE.safetensors:TENSOR ({layer} allowed)
  std::string qkvPath;              // one .safetensors file; Q, K, V found by tensor names
  std::optional<uint32_t> layer;    // which layer of a file with several
  std::string layout = "auto";      // for 3-D tensors: hnd ([heads, n, d]) or nhd ([n, heads, d])
  std::string tokenFile;            // JSON array of strings, or one token per line
  bool rope = false;                // apply rotary embedding to Q and K on the GPU after loading
  double ropeBase = 10000.0;
  uint32_t ropeDims = 0;            // 0: all of d
  std::string ropeStyle = "halves"; // halves (rotate_half: Llama, NeoX) or interleaved (GPT-J)
  void add(CLI::App& app, uint32_t defaultTokens);
  bool fromFiles() const { return !qPath.empty() || !kPath.empty() || !qkvPath.empty(); }
};

struct AttentionOptions {
  std::string mask = "causal";
  std::optional<uint32_t> window;
  std::optional<double> scale;
  double temperature = 1.0;
  void add(CLI::App& app);
};

struct RegionOptions {
  std::string rows, cols;  // "a:b", empty = whole map
  void add(CLI::App& app);
  MapRegion resolve(uint32_t n) const;
};

struct StyleOptions {
  uint32_t width = 1024, height = 1024;  // add() sets each command's own defaults
  std::string aggregation = "mean";
  std::string colormap = "viridis";
  std::string colorScale = "log";
  std::optional<double> vmin, vmax;
  void add(CLI::App& app, uint32_t defaultWidth = 1024, uint32_t defaultHeight = 1024);
  HeatmapStyle style() const;  // validates names
};

// The GPU objects every command needs.
struct Session {
  std::unique_ptr<Context> ctx;
  std::unique_ptr<ShaderCompiler> compiler;
  std::unique_ptr<Kernels> kernels;
  explicit Session(const DeviceOptions& o);
  ~Session();
  // The renderer for PNG output, made when first needed and shared by every figure.
  class FigureRenderer& pngRenderer();

 private:
  std::unique_ptr<class FigureRenderer> pngRenderer_;
};

struct LoadedInput {
  HeadData head;
  AttentionSpec spec;
  std::string description;  // for titles
  std::vector<std::string> tokens;  // printable, one per row; empty for synthetic input
};

// Validates everything that can be checked before any GPU work, then loads or generates the
// head with a progress bar.
AttentionSpec attentionSpecFor(const AttentionOptions& a, uint32_t n, uint32_t d);

// Q and K (and V when given) from files, opened and checked but not yet read: one place
// for render, export and view. The rows are read when the head is uploaded.
struct QKSources {
  HeadSource q, k;
  std::optional<HeadSource> v;
  uint32_t heads = 1;            // query heads in the file
  std::vector<uint32_t> layers;  // layer numbers the file holds (empty: no layer numbers)
  std::optional<uint32_t> layer; // the one opened
  std::string description;       // for titles: file and tensors
  uint64_t n() const { return q.rows(); }
  uint64_t d() const { return q.cols(); }
  // Query head h reads K/V head h / (Hq / Hk) (grouped- and multi-query attention).
  void selectHead(uint32_t head);
};
QKSources openQK(const InputOptions& in, bool needV);
// Uploads the selected head with a progress bar (for large inputs); Ctrl-C cancels.
HeadData uploadHead(Context& ctx, const QKSources& src, bool withV, bool quiet);
// Rotates Q and K when --rope was given (inputs captured before rotary embedding).
void applyRopeIfAsked(Context& ctx, Kernels& kernels, HeadData& head, const InputOptions& in);
// The token file's tokens made printable (empty without --token-file); checks the count.
std::vector<std::string> visibleTokens(const InputOptions& in, uint32_t n);
LoadedInput loadInput(Session& s, const InputOptions& in, const AttentionOptions& a,
                      bool needV, bool quiet);

// Runs a MapJob to completion with a progress bar; throws Cancelled on Ctrl-C.
void runMapJob(Session& s, MapJob& job, const std::string& label, bool quiet);

std::string describeRegion(const MapRegion& r, uint32_t n);

}  // namespace attnscope
