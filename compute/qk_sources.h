// Q, K and V of one layer from files, opened and checked but not yet read: which tensors,
// which layout, which layer, the query rows a partial capture holds, and the capture's own
// metadata. One place for render, export and view; nothing here touches the device.
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "compute/capture_metadata.h"
#include "compute/head_source.h"

namespace attnscope {

// What the command line named.
struct QKRequest {
  std::string qPath, kPath, vPath;  // .npy [n, d], or FILE.safetensors:TENSOR ({layer} allowed)
  std::string qkvPath;              // one .safetensors file; Q, K, V found by tensor names
  std::optional<uint32_t> layer;    // which layer of a file with several
  std::string layout = "auto";      // of 3-D tensors: auto, hnd ([heads, n, d]) or nhd ([n, heads, d])
  uint32_t head = 0;
  std::optional<uint64_t> tokenCount;   // from a token file: tells layouts apart
  std::optional<uint32_t> queryOffset;  // position of Q's first row (captures of the last queries)
  bool overrideMetadata = false;
};

// Query heads one tensor may hold. A reading of a 3-D tensor with more heads than this is
// not considered when the layout is decided (real models have at most 128).
constexpr uint64_t kMaxHeads = 256;

struct QKSources {
  HeadSource q, k;
  std::optional<HeadSource> v;
  uint32_t heads = 1;            // query heads in the file
  std::vector<uint32_t> layers;  // layer numbers the file holds (empty: no layer numbers)
  std::optional<uint32_t> layer; // the one opened
  std::string description;       // for titles: file and tensors
  std::string layoutNote;        // how a 3-D layout was decided, for `info` and errors
  std::shared_ptr<const CaptureMetadata> metadata;  // the capture's metadata, when the file has it
  uint32_t queryBegin = 0;       // Q's first row is this position; K and V hold every position
  uint64_t n() const { return k.rows(); }  // tokens: keys, and the map's size
  uint64_t d() const { return q.cols(); }
  // The metadata of the layer opened, or null.
  const LayerMetadata* layerMetadata() const;
  // Query head h reads K/V head h / (Hq / Hk) (grouped- and multi-query attention).
  void selectHead(uint32_t head);
};

QKSources openQK(const QKRequest& request, bool needV);

// True for names of model parameters (…weight, …bias): never queries or keys.
bool isParameterName(const std::string& tensor);

}  // namespace attnscope
