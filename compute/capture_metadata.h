// What a capture of a real model says about itself, so that its maps are drawn the way the
// model computed them. tools/export_qk.py writes it as JSON under the "attnscope" key of a
// .safetensors file's __metadata__: per layer the tensors, head counts, the mask (causal,
// bidirectional or a sliding window), the logit scale the model used, Gemma-2's soft cap,
// and whether rotary embedding is already applied (with its base, dimensions and style).
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "compute/attention_spec.h"

namespace attnscope {

class SafetensorsFile;

struct RotaryInfo {
  bool applied = true;   // Q and K are rotated already (false: captured before rotary)
  double base = 10000.0;
  uint32_t dims = 0;     // rotary dimensions (the first `dims` of d)
  bool halves = true;    // rotate_half pairs (Llama, NeoX); false: interleaved pairs (GPT-J)
  std::string scaling;   // the model's rope_scaling type ("llama3", "longrope", ...), empty: none
};

struct LayerMetadata {
  uint32_t layer = 0;
  std::string q, k, v;          // tensor names (v may be empty)
  uint32_t heads = 0, kvHeads = 0, headDim = 0;
  MaskKind mask = MaskKind::Causal;  // causal, none (bidirectional) or WindowCausal
  uint32_t window = 0;               // for a sliding window: key j is seen when i - j < window
  double scale = 0;                  // what q.k was multiplied by
  std::optional<double> softcap;     // logits became C tanh(s / C)
  std::optional<RotaryInfo> rotary;  // none: the model has no rotary embedding
};

struct CaptureMetadata {
  uint32_t version = 1;
  std::string producer, model, architecture, modelType;
  uint64_t tokens = 0;
  uint64_t queryBegin = 0;   // Q holds positions [queryBegin, tokens)
  std::string layout = "hnd";  // of the 3-D tensors: hnd [heads, n, d] or nhd [n, heads, d]
  std::vector<LayerMetadata> layers;
  const LayerMetadata* layer(uint32_t number) const;
  // The layer whose q or k tensor is `tensor` (for --q FILE:TENSOR), or null.
  const LayerMetadata* layerOfTensor(const std::string& tensor) const;
};

// The newest metadata version this build reads.
constexpr uint32_t kCaptureMetadataVersion = 1;

// Parses and checks the JSON text; `where` names the file in errors.
CaptureMetadata parseCaptureMetadata(const std::string& json, const std::string& where);
// The file's capture metadata, or nothing when it has none (a file not written by export_qk).
std::optional<CaptureMetadata> readCaptureMetadata(const SafetensorsFile& file);

// One line for `attnscope info`: "causal, scale 0.125, soft cap 50, rotary applied (...)".
std::string describeLayerMetadata(const LayerMetadata& m);
std::string describeMask(MaskKind mask, uint32_t window);

// What the command line asked for. Unset fields come from the layer's metadata when the file
// has it, else from the defaults (causal, 1/sqrt(d), no cap, no rotary).
struct AttentionRequest {
  std::optional<std::string> mask;
  std::optional<uint32_t> window;
  std::optional<double> scale, softcap;
  double temperature = 1.0;
  bool rope = false;                     // --rope
  std::optional<double> ropeBase;
  std::optional<uint32_t> ropeDims;
  std::optional<std::string> ropeStyle;  // halves | interleaved
  bool overrideMetadata = false;         // options may contradict the file's metadata
};

struct ResolvedAttention {
  AttentionSpec spec;
  bool rope = false;   // rotate Q and K on the device after loading
  double ropeBase = 10000.0;
  uint32_t ropeDims = 0;
  bool ropeHalves = true;
  std::vector<std::string> fromMetadata;  // what came from the file, for messages
};

// The attention to draw for a head of n tokens and dimension d whose first query row is
// queryBegin. An option that contradicts `meta` is an Error naming both unless
// overrideMetadata; options that do nothing (--rope-base without --rope) are Errors too.
ResolvedAttention resolveAttention(const AttentionRequest& req, const LayerMetadata* meta, uint32_t n, uint32_t d,
                                   uint32_t queryBegin);

}  // namespace attnscope
