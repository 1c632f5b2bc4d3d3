// Command-line options shared by the subcommands, and what they turn into: a device, an
// input head, an attention spec, a region and a figure style.
#pragma once
#include <CLI/CLI.hpp>

#include <memory>
#include <optional>
#include <string>

#include "compute/attention_spec.h"
#include "compute/capture_metadata.h"
#include "compute/gpu_session.h"
#include "compute/head_data.h"
#include "compute/head_source.h"
#include "compute/kernels.h"
#include "compute/map_job.h"
#include "compute/npy.h"
#include "compute/qk_sources.h"
#include "compute/synthetic.h"
#include "engine/context.h"
#include "engine/shader_compiler.h"
#include "viz/figure.h"
#include "viz/map_figure.h"

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
  std::optional<uint32_t> queryOffset;  // position of Q's first row (captures of the last queries)
  bool overrideMetadata = false;    // options may contradict the capture's metadata
  bool rope = false;                // apply rotary embedding to Q and K on the GPU after loading
  std::optional<double> ropeBase;
  std::optional<uint32_t> ropeDims;  // default all of d
  std::optional<std::string> ropeStyle;  // halves (rotate_half: Llama, NeoX) or interleaved (GPT-J)
  void add(CLI::App& app, uint32_t defaultTokens);
  bool fromFiles() const { return !qPath.empty() || !kPath.empty() || !qkvPath.empty(); }
  // Options that do nothing for the input chosen (--tokens with --q, --layer with a preset)
  // are an Error: a user who gives them expects them to change the map.
  void checkRelevant() const;
  QKRequest request(std::optional<uint64_t> tokenCount) const;
  // The synthetic head these options describe (checked).
  SyntheticSpec synthetic(bool withV) const;

 private:
  std::vector<CLI::Option*> syntheticOnly_, filesOnly_;
};

struct AttentionOptions {
  std::optional<std::string> mask;  // unset: the file's metadata, else causal
  std::optional<uint32_t> window;
  std::optional<double> scale;
  std::optional<double> softcap;
  double temperature = 1.0;
  void add(CLI::App& app);
  AttentionRequest request(const InputOptions& in) const;
};

struct RegionOptions {
  std::string rows, cols;  // "a:b", empty = whole map
  void add(CLI::App& app);
  // Defaults to the whole map (the captured rows of a capture of the last queries).
  MapRegion resolve(const AttentionSpec& spec) const;
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

// The GPU objects every command needs, and the PNG renderer when one is asked for.
struct Session : GpuSession {
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

// Q and K (and V) of the files named, opened and checked but not read; the token file's
// count (when given) helps decide the layout of 3-D tensors.
QKSources openInputFiles(const InputOptions& in, bool needV);
QKSources openInputFiles(const InputOptions& in, bool needV, std::optional<uint64_t> tokenCount);
// How many tokens --token-file holds (nothing without one).
std::optional<uint64_t> tokenFileCount(const InputOptions& in);
// The attention to draw for the opened head (metadata applied, options checked against it).
ResolvedAttention attentionFor(const AttentionOptions& a, const InputOptions& in, const QKSources& src);
// The attention for a synthetic input: checks every option before any GPU work.
ResolvedAttention syntheticAttention(const AttentionOptions& a, const InputOptions& in);
// Uploads the selected head with a progress bar (for large inputs); Ctrl-C cancels.
HeadData uploadHead(Context& ctx, const QKSources& src, bool withV, bool quiet);
// Rotates Q and K when asked (--rope, or metadata of a capture taken before rotary).
void applyRopeIfAsked(Context& ctx, Kernels& kernels, HeadData& head, const ResolvedAttention& a);
// The token file's tokens made printable (empty without --token-file); checks the count.
std::vector<std::string> visibleTokens(const InputOptions& in, uint32_t n);
LoadedInput loadInput(Session& s, const InputOptions& in, const AttentionOptions& a,
                      bool needV, bool quiet);

// Runs a MapJob to completion with a progress bar; throws Cancelled on Ctrl-C.
void runMapJob(Session& s, MapJob& job, const std::string& label, bool quiet);


}  // namespace attnscope
