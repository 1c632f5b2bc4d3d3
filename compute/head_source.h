// Q, K and V from files: one head of one layer, seen as an [n, d] matrix whose rows are read
// straight from the memory-mapped .npy or .safetensors file and widened to float32 a slice at
// a time, so a 100k-token, many-head file is never copied whole into memory.
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "compute/dtype.h"
#include "compute/mapped_file.h"
#include "compute/safetensors.h"

namespace attnscope {

class HeadSource {
 public:
  // `arg` is FILE.npy or FILE.safetensors:TENSOR; `what` is "Q", "K" or "V" for messages.
  // A safetensors tensor is [n, d], [heads, n, d] or [n, heads, d] (layout "hnd" or "nhd";
  // "auto" only for 2-D tensors; a leading batch of 1 is dropped).
  static HeadSource open(const std::string& arg, const std::string& what, const std::string& layout);
  // The same for a tensor of an already opened file.
  static HeadSource fromTensor(std::shared_ptr<const SafetensorsFile> file, const std::string& tensor,
                               const std::string& what, const std::string& layout);

  uint64_t rows() const { return rows_; }
  uint64_t cols() const { return cols_; }
  uint32_t heads() const { return heads_; }
  uint32_t head() const { return head_; }
  void selectHead(uint32_t head);  // throws Error when it does not exist
  DType dtype() const { return dtype_; }
  const std::string& name() const { return name_; }  // "Q tensor 'layers.0.q' of 'x.safetensors'"

  // Widens rows [r0, r1) of the selected head into `out`, row r at out + (r - r0) * stride,
  // padding columns [d, stride) with zeros. NaN or Inf is an error naming head, row and column.
  void readRows(uint64_t r0, uint64_t r1, float* out, uint64_t stride) const;

 private:
  std::shared_ptr<const void> keepAlive_;  // the mapped file
  const uint8_t* base_ = nullptr;          // head 0, row 0
  uint64_t rows_ = 0, cols_ = 0;
  uint32_t heads_ = 1, head_ = 0;
  uint64_t headStride_ = 0, rowStride_ = 0;  // bytes
  DType dtype_ = DType::F32;
  std::string name_;
};

// The tensors holding one layer's Q, K and V in a .safetensors file. Names are split at
// '.' and '/'; the last part names the role (q, query, q_proj, wq; k...; v...) and the first
// all-digit part the layer: "layers.3.q", "model.layers.3.self_attn.k_proj". A file without
// layer numbers has one group.
// The shape with leading 1s dropped down to two dimensions (a batch of one).
std::vector<uint64_t> squeezedShape(const std::vector<uint64_t>& shape);

struct LayerTensors {
  std::optional<uint32_t> layer;
  std::string prefix;     // the name without its role part, e.g. "layers.3"
  std::string q, k, v;    // tensor names; v may be empty
};
std::vector<LayerTensors> findLayerTensors(const std::vector<TensorInfo>& tensors);

}  // namespace attnscope
