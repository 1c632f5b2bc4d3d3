#include "compute/head_data.h"

#include <algorithm>
#include <cmath>

#include "compute/attention_spec.h"
#include "compute/head_source.h"
#include "engine/context.h"
#include "engine/error.h"

namespace attnscope {

uint64_t keyBufferBytes(uint64_t bytes) {
  uint64_t total = bytes + kKeyTexelSlack;
  if ((total & (total - 1)) == 0) total += 16;
  return total;
}

uint64_t keyTexelViewRange(uint64_t bytes) { return ((bytes >> 8) & 0xff) == 0 ? bytes + 256 : bytes; }

static std::string mib(uint64_t bytes) { return std::to_string((bytes + (1 << 20) - 1) >> 20) + " MiB"; }

HeadData::HeadData(Context& ctx, uint32_t n, uint32_t d, bool withV)
    : ctx_(&ctx), n_(n), d_(d), dp_(paddedDim(d)) {
  if (n == 0 || d == 0) throw Error("internal: empty head");
  uint64_t rowBytes = uint64_t(dp_) * 4;
  uint64_t bytes = uint64_t(n) * rowBytes;
  uint64_t total = bytes * (withV ? 3 : 2);
  const auto& caps = ctx.caps();
  if (caps.deviceLocalBytes && total > caps.deviceLocalBytes)
    throw Error("Q, K" + std::string(withV ? " and V" : "") + " for " + std::to_string(n) +
                " tokens need " + mib(total) + " but device '" + caps.name + "' has " +
                mib(caps.deviceLocalBytes) + ": use fewer tokens or a smaller head dimension");
  // Leave room for the alignment slack that makeWindow() adds at a chunk's start.
  uint64_t usable = caps.limits.maxStorageBufferRange > 4096 ? caps.limits.maxStorageBufferRange - 4096 : 0;
  uint64_t perChunk = usable / rowBytes / 256 * 256;
  if (perChunk == 0) throw Error("device '" + caps.name + "' binds too little storage memory");
  keysPerChunk_ = uint32_t(std::min<uint64_t>(perChunk, n));
  q_ = Buffer(ctx, bytes, VK_BUFFER_USAGE_STORAGE_BUFFER_BIT, MemoryUse::DeviceLocal, "Q");
  k_ = Buffer(ctx, keyBufferBytes(bytes), VK_BUFFER_USAGE_STORAGE_BUFFER_BIT | VK_BUFFER_USAGE_UNIFORM_TEXEL_BUFFER_BIT,
              MemoryUse::DeviceLocal, "K");
  if (withV) v_ = Buffer(ctx, bytes, VK_BUFFER_USAGE_STORAGE_BUFFER_BIT, MemoryUse::DeviceLocal, "V");
  makeKeyTexels();
}

void HeadData::makeKeyTexels() {
  kTexels_.clear();
  const auto& limits = ctx_->caps().limits;
  const uint64_t rowBytes = uint64_t(dp_) * 4;
  std::vector<BufferView> views;
  for (uint64_t first = 0; first < n_; first += keysPerChunk_) {
    uint64_t keys = std::min<uint64_t>(keysPerChunk_, n_ - first);
    uint64_t offset = first * rowBytes;
    uint64_t range = keyTexelViewRange(keys * rowBytes);
    if (range / 16 > limits.maxTexelBufferElements || offset % std::max<uint64_t>(limits.minTexelBufferOffsetAlignment, 1) != 0)
      return;  // no views at all: the storage-buffer path everywhere
    views.emplace_back(*ctx_, k_, VK_FORMAT_R32G32B32A32_SFLOAT, offset, range, "K texels");
  }
  kTexels_ = std::move(views);
}

VkBufferView HeadData::keyTexels(uint32_t key, uint32_t& firstKey) const {
  size_t chunk = key / keysPerChunk_;
  if (chunk >= kTexels_.size()) return VK_NULL_HANDLE;
  firstKey = uint32_t(chunk * keysPerChunk_);
  return kTexels_[chunk].handle();
}

void HeadData::setKeysPerChunkForTesting(uint32_t keys) {
  keysPerChunk_ = keys;
  makeKeyTexels();
}

HeadData HeadData::fromHost(Context& ctx, uint32_t n, uint32_t d, const float* q, const float* k,
                            const float* v) {
  HeadData h(ctx, n, d, v != nullptr);
  uint32_t dp = h.dp_;
  auto put = [&](Buffer& dst, const float* src) {
    // Pad in slices so host memory stays bounded for long inputs.
    const uint32_t rowsPerSlice = 65536;
    std::vector<float> padded;
    for (uint32_t r0 = 0; r0 < n; r0 += rowsPerSlice) {
      uint32_t r1 = std::min(n, r0 + rowsPerSlice);
      padded.assign(size_t(r1 - r0) * dp, 0.0f);
      for (uint32_t r = r0; r < r1; ++r)
        std::copy(src + size_t(r) * d, src + size_t(r) * d + d, padded.begin() + size_t(r - r0) * dp);
      dst.upload(padded.data(), padded.size() * 4, uint64_t(r0) * dp * 4);
    }
  };
  put(h.q_, q);
  put(h.k_, k);
  if (v) put(h.v_, v);
  return h;
}

HeadData HeadData::fromSources(Context& ctx, const HeadSource& q, const HeadSource& k, const HeadSource* v,
                               const std::function<void(double)>& progress,
                               const std::function<bool()>& cancelled, uint32_t queryBegin) {
  uint32_t n = uint32_t(k.rows()), d = uint32_t(q.cols());
  if (q.rows() + queryBegin != n || k.cols() != d || (v && (v->rows() != n || v->cols() != d)))
    throw Error("internal: Q, K and V shapes differ");
  HeadData h(ctx, n, d, v != nullptr);
  uint32_t dp = h.dp_;
  // Slices of about 8 MiB: few submits, bounded host memory.
  const uint32_t rowsPerSlice = std::max<uint32_t>(1, (8u << 20) / (dp * 4));
  std::vector<float> slice(size_t(rowsPerSlice) * dp);
  const HeadSource* srcs[3] = {&q, &k, v};
  Buffer* dsts[3] = {&h.q_, &h.k_, &h.v_};
  uint32_t count = v ? 3 : 2;
  for (uint32_t m = 0; m < count; ++m) {
    uint32_t first = m == 0 ? queryBegin : 0;  // source row 0 is position `first`
    for (uint32_t r0 = 0; r0 < n; r0 += rowsPerSlice) {
      if (cancelled && cancelled()) throw Cancelled();
      uint32_t r1 = std::min(n, r0 + rowsPerSlice);
      std::fill(slice.begin(), slice.end(), 0.0f);
      uint32_t a = std::max(r0, first);
      if (a < r1) srcs[m]->readRows(a - first, r1 - first, slice.data() + size_t(a - r0) * dp, dp);
      dsts[m]->upload(slice.data(), uint64_t(r1 - r0) * dp * 4, uint64_t(r0) * dp * 4);
      if (progress) progress((m + double(r1) / n) / count);
    }
  }
  return h;
}

std::vector<float> HeadData::download(const Buffer& which) const {
  std::vector<float> padded(size_t(n_) * dp_);
  const_cast<Buffer&>(which).download(padded.data(), padded.size() * 4);
  std::vector<float> out(size_t(n_) * d_);
  for (uint32_t r = 0; r < n_; ++r)
    std::copy(padded.begin() + size_t(r) * dp_, padded.begin() + size_t(r) * dp_ + d_,
              out.begin() + size_t(r) * d_);
  return out;
}

std::vector<KeyChunk> HeadData::chunks(uint32_t colBegin, uint32_t colEnd) const {
  std::vector<KeyChunk> out;
  for (uint32_t c = colBegin; c < colEnd;) {
    uint32_t chunkEnd = std::min<uint64_t>(uint64_t(c / keysPerChunk_ + 1) * keysPerChunk_, colEnd);
    out.push_back({c, chunkEnd});
    c = chunkEnd;
  }
  return out;
}

}  // namespace attnscope
