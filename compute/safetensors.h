// .safetensors files (Hugging Face): an 8-byte little-endian header length, a JSON header
// naming each tensor's dtype, shape and byte range, then the data. The file is memory-mapped
// and every header field is checked against the file before any byte of data is read:
// truncation, lying lengths or offsets, overlapping tensors, unknown dtypes and shapes whose
// size overflows 64 bits each get one line saying what and where.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace attnscope {

struct TensorInfo {
  std::string name;
  std::string dtype;  // F32, F16 or BF16 (others are listed but cannot be read)
  std::vector<uint64_t> shape;
  uint64_t begin = 0, end = 0;  // byte range inside the data section
  uint64_t elements() const;
};

class SafetensorsFile {
 public:
  explicit SafetensorsFile(const std::string& path);
  ~SafetensorsFile();
  SafetensorsFile(const SafetensorsFile&) = delete;
  SafetensorsFile& operator=(const SafetensorsFile&) = delete;

  const std::vector<TensorInfo>& tensors() const { return tensors_; }
  // Throws Error naming the tensors there are when `name` is not one of them.
  const TensorInfo& tensor(const std::string& name) const;
  // The tensor's values widened to float32, row-major. Non-finite values are an error
  // naming the tensor and the index of the first one (as a multi-index over the shape).
  std::vector<float> read(const std::string& name) const;

 private:
  std::string path_;
  int fd_ = -1;
  const uint8_t* map_ = nullptr;
  uint64_t size_ = 0, dataOffset_ = 0;
  std::vector<TensorInfo> tensors_;
};

}  // namespace attnscope
