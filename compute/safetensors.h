// .safetensors files (Hugging Face): an 8-byte little-endian header length, a JSON header
// naming each tensor's dtype, shape and byte range, then the data. The file is memory-mapped
// and every header field is checked against the file before any byte of data is read:
// truncation, lying lengths or offsets, overlapping tensors, unknown dtypes and shapes whose
// size overflows 64 bits each get one line saying what and where.
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "compute/dtype.h"
#include "compute/mapped_file.h"

namespace attnscope {

struct TensorInfo {
  std::string name;
  std::string dtype;  // F32, F16 or BF16 (others are listed but cannot be read)
  std::vector<uint64_t> shape;
  uint64_t begin = 0, end = 0;  // byte range inside the data section
  uint64_t elements() const;
  // F32, F16 or BF16; nothing for the types attnscope does not read.
  std::optional<DType> readableType() const;
};

struct SafetensorsHeader {
  std::vector<TensorInfo> tensors;  // in the file's order
  uint64_t dataOffset = 0;          // where the data section starts
  std::vector<std::pair<std::string, std::string>> metadata;  // __metadata__, in the file's order
};

// Parses and checks the header of a .safetensors file held in `bytes` (the whole file):
// every tensor's range must lie inside the data section, match its shape and not overlap
// another. `where` names the file in errors. Never reads past `size`.
SafetensorsHeader parseSafetensorsHeader(const uint8_t* bytes, uint64_t size, const std::string& where);

std::string shapeText(const std::vector<uint64_t>& shape);

class SafetensorsFile {
 public:
  explicit SafetensorsFile(const std::string& path);
  SafetensorsFile(const SafetensorsFile&) = delete;
  SafetensorsFile& operator=(const SafetensorsFile&) = delete;

  const std::string& path() const { return path_; }
  const std::vector<TensorInfo>& tensors() const { return tensors_; }
  // The header's __metadata__ strings (the format allows only strings), in the file's order.
  const std::vector<std::pair<std::string, std::string>>& metadata() const { return metadata_; }
  const std::string* metadata(const std::string& key) const;  // null when absent
  bool has(const std::string& name) const;
  // Throws Error naming the tensors there are when `name` is not one of them.
  const TensorInfo& tensor(const std::string& name) const;
  // The tensor's values widened to float32, row-major. Non-finite values are an error
  // naming the tensor and the index of the first one (as a multi-index over the shape).
  std::vector<float> read(const std::string& name) const;
  // The tensor's bytes in the mapped file (checked to lie inside it).
  const uint8_t* bytes(const TensorInfo& t) const { return map_->data() + dataOffset_ + t.begin; }
  // Throws Error unless the tensor is F32, F16 or BF16.
  DType readableType(const TensorInfo& t) const;

 private:
  std::string path_;
  std::unique_ptr<MappedFile> map_;
  uint64_t dataOffset_ = 0;
  std::vector<TensorInfo> tensors_;
  std::vector<std::pair<std::string, std::string>> metadata_;
};

}  // namespace attnscope
