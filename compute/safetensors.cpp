#include "compute/safetensors.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>

#include "compute/tokens.h"
#include "engine/error.h"

namespace attnscope {

namespace {

uint64_t dtypeSize(const std::string& d) {
  if (d == "F32" || d == "I32" || d == "U32") return 4;
  if (d == "F16" || d == "BF16" || d == "I16" || d == "U16") return 2;
  if (d == "F64" || d == "I64" || d == "U64") return 8;
  if (d == "I8" || d == "U8" || d == "BOOL" || d == "F8_E4M3" || d == "F8_E5M2") return 1;
  return 0;
}

}  // namespace

std::string shapeText(const std::vector<uint64_t>& s) {
  std::string t = "[";
  for (size_t i = 0; i < s.size(); ++i) t += (i ? ", " : "") + std::to_string(s[i]);
  return t + "]";
}

uint64_t TensorInfo::elements() const {
  uint64_t n = 1;
  for (uint64_t s : shape) n *= s;
  return n;
}

std::optional<DType> TensorInfo::readableType() const {
  if (dtype == "F32") return DType::F32;
  if (dtype == "F16") return DType::F16;
  if (dtype == "BF16") return DType::BF16;
  return std::nullopt;
}

SafetensorsHeader parseSafetensorsHeader(const uint8_t* bytes, uint64_t size, const std::string& where) {
  if (size < 8) throw Error(where + " is truncated: too short for the 8-byte header length");
  uint64_t headerLen = 0;
  for (int i = 7; i >= 0; --i) headerLen = headerLen << 8 | bytes[i];
  if (headerLen == 0 || headerLen > (uint64_t(100) << 20) || headerLen > size - 8)
    throw Error(where + " has a header length of " + std::to_string(headerLen) + " bytes, but the file has " +
                std::to_string(size) + ": truncated or not a safetensors file");
  SafetensorsHeader out;
  out.dataOffset = 8 + headerLen;
  uint64_t dataSize = size - out.dataOffset;
  nlohmann::ordered_json header;  // keeps the file's tensor order
  try {
    header = nlohmann::ordered_json::parse(bytes + 8, bytes + 8 + headerLen);
  } catch (const nlohmann::json::exception&) {
    throw Error(where + " has a header that is not valid JSON");
  }
  if (!header.is_object()) throw Error(where + " has a header that is not a JSON object");
  for (auto it = header.begin(); it != header.end(); ++it) {
    if (it.key() == "__metadata__") {
      // The format's free-form metadata: a map of strings to strings.
      if (!it.value().is_object()) throw Error(where + " has __metadata__ that is not a JSON object");
      for (auto m = it.value().begin(); m != it.value().end(); ++m) {
        if (!m.value().is_string())
          throw Error(where + " has __metadata__ entry '" + excerpt(m.key()) + "' that is not a string");
        out.metadata.emplace_back(m.key(), m.value().get<std::string>());
      }
      continue;
    }
    const auto& t = it.value();
    std::string what = where + ", tensor '" + excerpt(it.key()) + "'";
    if (!t.is_object() || !t.contains("dtype") || !t.contains("shape") || !t.contains("data_offsets"))
      throw Error(what + " lacks dtype, shape or data_offsets");
    TensorInfo info;
    info.name = it.key();
    if (!t["dtype"].is_string()) throw Error(what + " has a dtype that is not a string");
    info.dtype = t["dtype"].get<std::string>();
    uint64_t elem = dtypeSize(info.dtype);
    if (elem == 0) throw Error(what + " has unknown dtype " + excerpt(info.dtype));
    if (!t["shape"].is_array() || t["shape"].size() > 8) throw Error(what + " has a malformed shape");
    uint64_t count = 1;
    bool overflow = false;
    for (const auto& s : t["shape"]) {
      if (!s.is_number_unsigned()) throw Error(what + " has a shape entry that is not a non-negative integer");
      uint64_t v = s.get<uint64_t>();
      info.shape.push_back(v);
      if (v != 0 && count > std::numeric_limits<uint64_t>::max() / v) overflow = true;
      else count *= v;
    }
    if (overflow || count > std::numeric_limits<uint64_t>::max() / elem)
      throw Error(what + " has shape " + shapeText(info.shape) + " whose size overflows 64 bits");
    const auto& off = t["data_offsets"];
    if (!off.is_array() || off.size() != 2 || !off[0].is_number_unsigned() || !off[1].is_number_unsigned())
      throw Error(what + " has malformed data_offsets");
    info.begin = off[0].get<uint64_t>();
    info.end = off[1].get<uint64_t>();
    if (info.begin > info.end || info.end > dataSize)
      throw Error(what + " claims bytes [" + std::to_string(info.begin) + ", " + std::to_string(info.end) +
                  ") but the data section has " + std::to_string(dataSize) + ": truncated or lying offsets");
    if (info.end - info.begin != count * elem)
      throw Error(what + " has shape " + shapeText(info.shape) + " of " + info.dtype + " (" +
                  std::to_string(count * elem) + " bytes) but its offsets span " +
                  std::to_string(info.end - info.begin) + " bytes");
    for (const auto& other : out.tensors)
      if (other.name == info.name) throw Error(what + " appears twice");
    out.tensors.push_back(std::move(info));
  }
  // Tensors may not overlap: a file whose ranges alias each other is not well formed.
  std::vector<const TensorInfo*> byStart;
  for (const auto& t : out.tensors) byStart.push_back(&t);
  std::sort(byStart.begin(), byStart.end(), [](auto* a, auto* b) { return a->begin < b->begin; });
  for (size_t i = 1; i < byStart.size(); ++i)
    if (byStart[i]->begin < byStart[i - 1]->end && byStart[i]->end > byStart[i]->begin)
      throw Error(where + ": tensors '" + excerpt(byStart[i - 1]->name) + "' and '" + excerpt(byStart[i]->name) + "' overlap");
  return out;
}

SafetensorsFile::SafetensorsFile(const std::string& path) : path_(path) {
  std::string where = "safetensors file '" + path + "'";
  // Memory-mapped: a 100k-token, many-head file is never copied whole into memory.
  map_ = std::make_unique<MappedFile>(path, where);
  SafetensorsHeader h = parseSafetensorsHeader(map_->data(), map_->size(), where);
  dataOffset_ = h.dataOffset;
  tensors_ = std::move(h.tensors);
  metadata_ = std::move(h.metadata);
}

const std::string* SafetensorsFile::metadata(const std::string& key) const {
  for (const auto& [k, v] : metadata_)
    if (k == key) return &v;
  return nullptr;
}

bool SafetensorsFile::has(const std::string& name) const {
  for (const auto& t : tensors_)
    if (t.name == name) return true;
  return false;
}

DType SafetensorsFile::readableType(const TensorInfo& t) const {
  auto d = t.readableType();
  if (!d)
    throw Error("tensor '" + excerpt(t.name) + "' in '" + path_ + "' is " + t.dtype + "; attnscope reads F32, F16 and BF16");
  return *d;
}

const TensorInfo& SafetensorsFile::tensor(const std::string& name) const {
  for (const auto& t : tensors_)
    if (t.name == name) return t;
  std::string names;
  for (size_t i = 0; i < tensors_.size() && i < 12; ++i) names += (i ? ", " : "") + excerpt(tensors_[i].name);
  if (tensors_.size() > 12) names += ", ... (" + std::to_string(tensors_.size()) + " in all; 'attnscope info FILE' lists them)";
  throw Error("safetensors file '" + path_ + "' has no tensor '" + excerpt(name) + "'; it has: " +
              (names.empty() ? "none" : names));
}

std::vector<float> SafetensorsFile::read(const std::string& name) const {
  const TensorInfo& t = tensor(name);
  DType type = readableType(t);
  uint64_t n = t.elements();
  std::vector<float> out(n);
  widenToFloat(type, bytes(t), n, out.data());
  for (uint64_t i = 0; i < n; ++i) {
    float v = out[i];
    if (!std::isfinite(v)) {
      std::string index;
      uint64_t rest = i;
      for (size_t k = t.shape.size(); k-- > 0;) {
        index = std::to_string(rest % t.shape[k]) + (index.empty() ? "" : ", ") + index;
        rest /= t.shape[k];
      }
      throw Error("tensor '" + excerpt(name) + "' in '" + path_ + "' holds " + (std::isnan(v) ? "NaN" : "Inf") + " at [" +
                  index + "] of shape " + shapeText(t.shape) + ": clean the input");
    }
  }
  return out;
}

}  // namespace attnscope
