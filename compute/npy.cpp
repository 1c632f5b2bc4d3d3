#include "compute/npy.h"

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>

#include "compute/mapped_file.h"
#include "compute/tokens.h"
#include "engine/error.h"

namespace fs = std::filesystem;

namespace attnscope {

namespace {

std::string trim(const std::string& s) {
  size_t a = s.find_first_not_of(" \t\n"), b = s.find_last_not_of(" \t\n");
  return a == std::string::npos ? "" : s.substr(a, b - a + 1);
}

// Finds the value text of 'key' in the header dict, up to the next top-level comma or '}'.
std::string dictValue(const std::string& header, const std::string& key, const std::string& where) {
  size_t k = header.find("'" + key + "'");
  if (k == std::string::npos) k = header.find("\"" + key + "\"");
  if (k == std::string::npos) throw Error(where + ": the header has no '" + key + "' entry");
  size_t colon = header.find(':', k);
  if (colon == std::string::npos) throw Error(where + ": malformed header near '" + key + "'");
  size_t i = colon + 1;
  int depth = 0;
  size_t start = i;
  for (; i < header.size(); ++i) {
    char c = header[i];
    if (c == '(') ++depth;
    if (c == ')') --depth;
    if (depth == 0 && (c == ',' || c == '}')) break;
  }
  if (i >= header.size()) throw Error(where + ": malformed header near '" + key + "'");
  return trim(header.substr(start, i - start + (header[i] == ')' ? 1 : 0)));
}

}  // namespace

NpyInfo parseNpyHeader(const uint8_t* bytes, uint64_t fileSize, const std::string& where) {
  if (fileSize < 10) throw Error(where + " is truncated: too short for a .npy header");
  const uint8_t* pre = bytes;
  if (std::memcmp(pre, "\x93NUMPY", 6) != 0)
    throw Error(where + " is not a .npy file (wrong magic number)");
  uint8_t major = pre[6];
  uint64_t headerLen, preLen;
  if (major == 1) {
    headerLen = pre[8] | uint64_t(pre[9]) << 8;
    preLen = 10;
  } else if (major == 2 || major == 3) {
    if (fileSize < 12) throw Error(where + " is truncated in its header");
    headerLen = pre[8] | uint64_t(pre[9]) << 8 | uint64_t(pre[10]) << 16 | uint64_t(pre[11]) << 24;
    preLen = 12;
  } else {
    throw Error(where + " has .npy version " + std::to_string(major) + ", expected 1, 2 or 3");
  }
  if (headerLen > 1u << 20 || preLen + headerLen > fileSize)
    throw Error(where + " is truncated or its header length (" + std::to_string(headerLen) +
                " bytes) is wrong");
  std::string header(reinterpret_cast<const char*>(bytes + preLen), headerLen);

  std::string descr = dictValue(header, "descr", where);
  std::string fortran = dictValue(header, "fortran_order", where);
  std::string shapeText = excerpt(dictValue(header, "shape", where));  // file text: escaped for messages
  NpyInfo info;
  if (descr == "'<f4'" || descr == "'=f4'" || descr == "\"<f4\"") {
    info.dtype = DType::F32;
  } else if (descr == "'<f2'" || descr == "'=f2'" || descr == "\"<f2\"") {
    info.dtype = DType::F16;
  } else {
    throw Error(where + " holds dtype " + excerpt(descr) +
                "; attnscope reads little-endian float32 or float16 ('<f4', '<f2'): convert with "
                "numpy's astype(np.float32)");
  }
  uint64_t elem = dtypeBytes(info.dtype);
  if (fortran != "False")
    throw Error(where + " is in Fortran order; save it in C order (np.ascontiguousarray)");

  // Shape "(a, b)" with exactly two non-negative integers.
  if (shapeText.size() < 2 || shapeText.front() != '(' || shapeText.back() != ')')
    throw Error(where + ": malformed shape " + shapeText);
  std::vector<uint64_t> dims;
  std::string inner = shapeText.substr(1, shapeText.size() - 2);
  size_t pos = 0;
  while (pos < inner.size()) {
    size_t comma = inner.find(',', pos);
    std::string tok = trim(inner.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos));
    if (!tok.empty()) {
      if (tok.find_first_not_of("0123456789") != std::string::npos || tok.size() > 19)
        throw Error(where + ": malformed shape " + shapeText);
      dims.push_back(std::stoull(tok));
    }
    if (comma == std::string::npos) break;
    pos = comma + 1;
  }
  if (dims.size() != 2)
    throw Error(where + " has shape " + shapeText + "; expected a 2-D array [n, d]");
  uint64_t rows = dims[0], cols = dims[1];
  if (rows == 0 || cols == 0) throw Error(where + " has shape " + shapeText + ": it is empty");
  // Overflow-safe size: rows * cols * elem must fit, and must match the file.
  if (cols > std::numeric_limits<uint64_t>::max() / elem / rows)
    throw Error(where + " has shape " + shapeText + " whose size overflows 64 bits");
  uint64_t dataBytes = rows * cols * elem;
  uint64_t dataOffset = preLen + headerLen;
  if (fileSize - dataOffset < dataBytes)
    throw Error(where + " is truncated: shape " + shapeText + " needs " + std::to_string(dataBytes) +
                " bytes of data, the file has " + std::to_string(fileSize - dataOffset));
  if (rows * cols > (uint64_t(1) << 34))
    throw Error(where + " has " + std::to_string(rows * cols) + " values, more than attnscope can hold");
  info.rows = rows;
  info.cols = cols;
  info.dataOffset = dataOffset;
  info.shapeText = shapeText;
  return info;
}

NpyMatrix readNpyMatrix(const std::string& path, const std::string& what, bool allowNonFinite) {
  std::string where = what + " file '" + path + "'";
  MappedFile file(path, where);
  NpyInfo info = parseNpyHeader(file.data(), file.size(), where);
  NpyMatrix m;
  m.rows = info.rows;
  m.cols = info.cols;
  m.data.resize(m.rows * m.cols);
  widenToFloat(info.dtype, file.data() + info.dataOffset, m.data.size(), m.data.data());
  for (uint64_t i = 0; !allowNonFinite && i < m.data.size(); ++i)
    if (!std::isfinite(m.data[i]))
      throw Error(where + " holds " + (std::isnan(m.data[i]) ? "NaN" : "Inf") + " at row " +
                  std::to_string(i / m.cols) + ", column " + std::to_string(i % m.cols) +
                  ": attention of non-finite values is undefined; clean the input");
  return m;
}

std::string npyHeader(const std::vector<uint64_t>& shape) {
  std::string dims;
  for (size_t i = 0; i < shape.size(); ++i) dims += (i ? ", " : "") + std::to_string(shape[i]);
  if (shape.size() == 1) dims += ",";
  std::string dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (" + dims + "), }";
  // Total header (10-byte preamble + dict + padding + '\n') is a multiple of 64.
  size_t total = 10 + dict.size() + 1;
  size_t padded = (total + 63) / 64 * 64;
  dict.append(padded - total, ' ');
  dict += '\n';
  std::string out = "\x93NUMPY";
  out += char(1);
  out += char(0);
  out += char(dict.size() & 0xff);
  out += char((dict.size() >> 8) & 0xff);
  return out + dict;
}

NpyWriter::NpyWriter(std::string path, uint64_t rows, uint64_t cols, uint64_t planes)
    : path_(std::move(path)), partial_(path_ + ".partial"), rows_(planes ? planes * rows : rows), cols_(cols) {
  std::string header = planes ? npyHeader({planes, rows, cols}) : npyHeader({rows, cols});
  rows = rows_;
  dataOffset_ = header.size();
  fs::path dir = fs::absolute(path_).parent_path();
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) throw Error("cannot write '" + path_ + "': folder " + dir.string() + " does not exist");
  uint64_t need = dataOffset_ + rows * cols * 4;
  auto space = fs::space(dir, ec);
  if (!ec && space.available < need)
    throw Error("writing '" + path_ + "' needs " + std::to_string(need >> 20) + " MiB but only " +
                std::to_string(space.available >> 20) + " MiB are free: export a smaller rectangle");
  file_ = std::fopen(partial_.c_str(), "wb");
  if (!file_) throw Error("cannot create '" + partial_ + "': " + std::strerror(errno));
  if (std::fwrite(header.data(), 1, header.size(), file_) != header.size())
    throw Error("cannot write '" + partial_ + "'");
}

NpyWriter::~NpyWriter() {
  if (file_) std::fclose(file_);
  if (!committed_) std::remove(partial_.c_str());
}

void NpyWriter::write(uint64_t row, uint64_t col, const float* values, uint64_t count) {
  if (row >= rows_ || col + count > cols_) throw Error("internal: npy write outside the array");
  uint64_t offset = dataOffset_ + (row * cols_ + col) * 4;
  if (fseeko(file_, off_t(offset), SEEK_SET) != 0 ||
      std::fwrite(values, 4, count, file_) != count)
    throw Error("cannot write '" + partial_ + "': " + std::strerror(errno));
}

void NpyWriter::commit() {
  if (std::fflush(file_) != 0 || std::fclose(file_) != 0) {
    file_ = nullptr;
    throw Error("cannot finish writing '" + partial_ + "': " + std::strerror(errno));
  }
  file_ = nullptr;
  std::error_code ec;
  fs::rename(partial_, path_, ec);
  if (ec) throw Error("cannot rename '" + partial_ + "' to '" + path_ + "': " + ec.message());
  committed_ = true;
}

}  // namespace attnscope
