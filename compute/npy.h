// NumPy .npy files: a strict reader for float32 matrices (every header field is checked
// against the file's real size; nothing is trusted) and a streaming writer that writes to a
// temporary file and renames it into place, so a failed or cancelled export loses nothing.
#pragma once
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "compute/dtype.h"

namespace attnscope {

// Where a 2-D .npy array's values lie in the file's bytes; every header field was checked
// against the file's size.
struct NpyInfo {
  uint64_t rows = 0, cols = 0;
  DType dtype = DType::F32;  // F32 or F16
  uint64_t dataOffset = 0;
  std::string shapeText;      // as the header wrote it, for messages
};

// Parses and checks the header of a .npy file held in `bytes` (the whole file). `where` names
// the file in errors ("Q file 'q.npy'"). Never reads past `size`.
NpyInfo parseNpyHeader(const uint8_t* bytes, uint64_t size, const std::string& where);

struct NpyMatrix {
  uint64_t rows = 0, cols = 0;
  std::vector<float> data;  // row-major
};

// Reads a 2-D float32 (or float16, widened) C-order .npy file. `what` names the input in
// error messages ("Q", "K"). NaN or Inf values are an error naming the row and column.
NpyMatrix readNpyMatrix(const std::string& path, const std::string& what,
                        bool allowNonFinite = false);

class NpyWriter {
 public:
  // Creates `path`.partial with a header for a [rows, cols] float32 array, or for
  // [planes, rows, cols] when planes > 0 (written as planes * rows rows: row p * rows + r).
  NpyWriter(std::string path, uint64_t rows, uint64_t cols, uint64_t planes = 0);
  ~NpyWriter();  // removes the partial file unless commit() ran
  NpyWriter(const NpyWriter&) = delete;
  NpyWriter& operator=(const NpyWriter&) = delete;

  // Writes `count` values at (row, col), continuing along the row.
  void write(uint64_t row, uint64_t col, const float* values, uint64_t count);
  // Flushes and renames the partial file to its final name.
  void commit();

 private:
  std::string path_, partial_;
  uint64_t rows_, cols_, dataOffset_ = 0;
  std::FILE* file_ = nullptr;
  bool committed_ = false;
};

// Builds the header bytes (magic, version, padded dict) for a float32 C-order array.
std::string npyHeader(const std::vector<uint64_t>& shape);

}  // namespace attnscope
