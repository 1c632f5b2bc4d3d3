#include "compute/head_source.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <map>

#include "compute/npy.h"
#include "compute/tokens.h"
#include "engine/error.h"

namespace attnscope {

namespace {

struct NpyHolder {
  MappedFile file;
  NpyHolder(const std::string& path, const std::string& where) : file(path, where) {}
};

}  // namespace

HeadSource HeadSource::open(const std::string& arg, const std::string& what, const std::string& layout) {
  size_t sep = arg.find(".safetensors:");
  if (sep == std::string::npos) {
    if (arg.size() > 12 && arg.compare(arg.size() - 12, 12, ".safetensors") == 0)
      throw Error(what + " '" + arg + "' names a .safetensors file but not a tensor: write FILE.safetensors:TENSOR, "
                  "or give the whole file with --qkv (see 'attnscope info FILE')");
    std::string where = what + " file '" + arg + "'";
    auto holder = std::make_shared<NpyHolder>(arg, where);
    NpyInfo info = parseNpyHeader(holder->file.data(), holder->file.size(), where);
    HeadSource s;
    s.base_ = holder->file.data() + info.dataOffset;
    s.keepAlive_ = holder;
    s.rows_ = info.rows;
    s.cols_ = info.cols;
    s.dtype_ = info.dtype;
    s.rowStride_ = info.cols * dtypeBytes(info.dtype);
    s.headStride_ = 0;
    s.name_ = where;
    return s;
  }
  auto file = std::make_shared<const SafetensorsFile>(arg.substr(0, sep + 12));
  return fromTensor(file, arg.substr(sep + 13), what, layout);
}

HeadSource HeadSource::fromTensor(std::shared_ptr<const SafetensorsFile> file, const std::string& name,
                                  const std::string& what, const std::string& layout) {
  const TensorInfo& t = file->tensor(name);
  std::string where = what + " tensor '" + excerpt(name) + "'";
  HeadSource s;
  s.dtype_ = file->readableType(t);
  std::vector<uint64_t> shape = squeezedShape(t.shape);
  if (shape.size() < 2 || shape.size() > 3)
    throw Error(where + " has shape " + shapeText(t.shape) + "; expected [n, d], [heads, n, d] or [n, heads, d]");
  const std::string& lay = layout;
  if (lay != "auto" && lay != "hnd" && lay != "nhd") throw Error("unknown --layout '" + layout + "': use hnd or nhd");
  // Which axis is heads and which is tokens is decided by the caller (openQK), from metadata
  // or shapes; a 3-D tensor is never read in a guessed layout.
  if (shape.size() == 3 && lay == "auto")
    throw Error(where + " has shape " + shapeText(t.shape) + ": give --layout hnd ([heads, n, d]) or nhd ([n, heads, d])");
  uint64_t elem = dtypeBytes(s.dtype_);
  if (shape.size() == 2) {
    s.heads_ = 1;
    s.rows_ = shape[0];
    s.cols_ = shape[1];
    s.rowStride_ = s.cols_ * elem;
  } else if (lay == "hnd") {
    s.heads_ = uint32_t(std::min<uint64_t>(shape[0], UINT32_MAX));
    s.rows_ = shape[1];
    s.cols_ = shape[2];
    s.rowStride_ = s.cols_ * elem;
    s.headStride_ = s.rows_ * s.rowStride_;
  } else {
    s.heads_ = uint32_t(std::min<uint64_t>(shape[1], UINT32_MAX));
    s.rows_ = shape[0];
    s.cols_ = shape[2];
    s.headStride_ = s.cols_ * elem;
    s.rowStride_ = s.heads_ * s.headStride_;
  }
  if (s.rows_ == 0 || s.cols_ == 0 || s.heads_ == 0) throw Error(where + " has shape " + shapeText(t.shape) + ": it is empty");
  s.base_ = file->bytes(t);
  s.keepAlive_ = file;
  s.name_ = where + " of '" + file->path() + "'";
  return s;
}

void HeadSource::selectHead(uint32_t head) {
  if (head >= heads_)
    throw Error("head " + std::to_string(head) + " does not exist: " + name_ + " has " + std::to_string(heads_) +
                " head" + (heads_ == 1 ? "" : "s"));
  head_ = head;
}

void HeadSource::readRows(uint64_t r0, uint64_t r1, float* out, uint64_t stride) const {
  if (r1 > rows_ || r0 > r1 || stride < cols_) throw Error("internal: rows outside the input");
  const uint8_t* headBase = base_ + uint64_t(head_) * headStride_;
  for (uint64_t r = r0; r < r1; ++r) {
    float* row = out + (r - r0) * stride;
    widenToFloat(dtype_, headBase + r * rowStride_, cols_, row);
    for (uint64_t c = 0; c < cols_; ++c)
      if (!std::isfinite(row[c]))
        throw Error(name_ + " holds " + (std::isnan(row[c]) ? "NaN" : "Inf") + " at " +
                    (heads_ > 1 ? "head " + std::to_string(head_) + ", " : "") + "row " + std::to_string(r) +
                    ", column " + std::to_string(c) + ": attention of non-finite values is undefined; clean the input");
    std::fill(row + cols_, row + stride, 0.0f);
  }
}

std::vector<uint64_t> squeezedShape(const std::vector<uint64_t>& shape) {
  std::vector<uint64_t> s = shape;
  while (s.size() > 2 && s[0] == 1) s.erase(s.begin());
  return s;
}

namespace {

enum class Role { None, Q, K, V };

Role roleOf(const std::string& part) {
  std::string p;
  for (char c : part) p += char(std::tolower(static_cast<unsigned char>(c)));
  // hook_q/k/v: TransformerLens activation names (blocks.L.attn.hook_q).
  if (p == "q" || p == "query" || p == "queries" || p == "q_proj" || p == "wq" || p == "hook_q") return Role::Q;
  if (p == "k" || p == "key" || p == "keys" || p == "k_proj" || p == "wk" || p == "hook_k") return Role::K;
  if (p == "v" || p == "value" || p == "values" || p == "v_proj" || p == "wv" || p == "hook_v") return Role::V;
  return Role::None;
}

}  // namespace

std::vector<LayerTensors> findLayerTensors(const std::vector<TensorInfo>& tensors) {
  std::map<std::string, LayerTensors> groups;
  std::vector<std::string> order;
  for (const TensorInfo& t : tensors) {
    size_t cut = t.name.find_last_of("./");
    std::string prefix = cut == std::string::npos ? "" : t.name.substr(0, cut);
    Role role = roleOf(cut == std::string::npos ? t.name : t.name.substr(cut + 1));
    if (role == Role::None) continue;
    auto [it, fresh] = groups.try_emplace(prefix);
    LayerTensors& g = it->second;
    if (fresh) {
      order.push_back(prefix);
      g.prefix = prefix;
      // The first all-digit part of the prefix is the layer number.
      size_t a = 0;
      while (a <= prefix.size()) {
        size_t b = prefix.find_first_of("./", a);
        if (b == std::string::npos) b = prefix.size();
        std::string part = prefix.substr(a, b - a);
        if (!part.empty() && part.size() < 10 && part.find_first_not_of("0123456789") == std::string::npos) {
          g.layer = uint32_t(std::stoul(part));
          break;
        }
        a = b + 1;
      }
    }
    (role == Role::Q ? g.q : role == Role::K ? g.k : g.v) = t.name;
  }
  std::vector<LayerTensors> out;
  for (const std::string& p : order)
    if (!groups[p].q.empty() && !groups[p].k.empty()) out.push_back(groups[p]);
  std::stable_sort(out.begin(), out.end(), [](const LayerTensors& a, const LayerTensors& b) {
    return a.layer.value_or(0) < b.layer.value_or(0);
  });
  return out;
}

}  // namespace attnscope
