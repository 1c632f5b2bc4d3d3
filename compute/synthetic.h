// Synthetic inputs, deterministic from a seed: token embeddings plus sinusoidal positional
// encodings (computed by embed.comp), projected per head by W_q, W_k, W_v (project.comp).
// Presets shape W so the heads show the patterns the lessons describe.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "compute/head_data.h"

namespace attnscope {

class Kernels;

enum class Preset {
  Local,  // a band just below the diagonal: the previous tokens (relative position via PE)
  Sink,   // every query attends the first token (BOS)
  Broad,  // near-uniform attention
  Mixed,  // realistic mixtures: band + sink + content, different per head
};

Preset parsePreset(const std::string& name);
const char* presetName(Preset p);
std::vector<std::string> presetNames();

struct SyntheticSpec {
  Preset preset = Preset::Mixed;
  uint32_t n = 0;
  uint32_t d = 64;        // head dimension
  uint32_t heads = 1;
  uint32_t head = 0;      // which head to generate
  uint32_t dModel = 128;  // embedding width (even)
  uint32_t seed = 1;
  uint32_t vocab = 50000;
  bool withV = true;
  // W through a texel buffer where it fits the device (the storage path otherwise; tests
  // turn this off to run that path too).
  bool weightTexels = true;
  void validate() const;
};

// Projection weights of one head, [dModel][dp] row-major with zero padding columns, and
// biases [dp]. Deterministic: the CPU reference rebuilds the same inputs from them.
struct HeadWeights {
  uint32_t dModel = 0, d = 0, dp = 0;
  std::vector<float> wq, wk, wv, bq, bk, bv;
};
HeadWeights makeHeadWeights(const SyntheticSpec& spec, uint32_t head);

// Embedding scale: each embedding entry is embeddingScale() * hashUnit(...).
float embeddingScale();
// w_k / 2pi for every frequency pair as a 64-bit fixed-point fraction of a turn.
std::vector<uint64_t> positionalTurns(uint32_t dModel);

using ProgressFn = std::function<void(double fraction)>;
using CancelFn = std::function<bool()>;

// Generates Q, K (and V) of spec.head on the device, in chunks of rows.
HeadData generateHead(Context& ctx, Kernels& kernels, const SyntheticSpec& spec,
                      const ProgressFn& progress = {}, const CancelFn& cancelled = {});

// Sinusoidal positional encodings PE[pos][dModel] for positions [begin, end) on the GPU,
// read back to the host (for lessons, the info of a test, export).
std::vector<float> computePositionalEncoding(Context& ctx, Kernels& kernels, uint32_t begin,
                                             uint32_t end, uint32_t dModel);

}  // namespace attnscope
