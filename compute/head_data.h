// One attention head's Q, K and (optionally) V on the device, each [n][dp] float32 with the
// head dimension d zero-padded to dp = paddedDim(d).
#pragma once
#include <cstdint>
#include <functional>
#include <vector>

#include "engine/buffer.h"

namespace attnscope {

class Context;
class HeadSource;

struct KeyChunk {
  uint32_t begin, end;  // keys [begin, end)
};

// llvmpipe (Mesa 22.3) compiles a shader again for every new "texture state" its texel
// buffers show: whether the buffer's size in bytes is a power of two, and "level zero only",
// which for a buffer view reads bits 8-15 of the view's size in bytes (the size shares a
// union with an image view's level range). Heads of different lengths thus each paid one
// more compile of every texel variant, 0.4-1.9 s each on a 2-core Xeon (a first tuning
// compiled each 3-4 times over). A K buffer whose size is never a power of two and views
// whose size always has a bit set among bits 8-15 give all heads one state, for at most
// 304 bytes per head, and cost nothing on other drivers.
constexpr uint64_t kKeyTexelSlack = 256 + 32;
// K's buffer size for `bytes` of keys: the slack added, never a power of two.
uint64_t keyBufferBytes(uint64_t bytes);
// A view's range for `bytes` of keys: 256 more (into the next chunk's keys or the slack)
// where bits 8-15 of `bytes` are all zero. The shaders never read past their keys.
uint64_t keyTexelViewRange(uint64_t bytes);

class HeadData {
 public:
  HeadData() = default;
  // Device buffers for n rows of dimension d; contents undefined until filled.
  HeadData(Context& ctx, uint32_t n, uint32_t d, bool withV);

  // Uploads row-major [n][d] float arrays (v may be null when the head has no V).
  static HeadData fromHost(Context& ctx, uint32_t n, uint32_t d, const float* q, const float* k,
                           const float* v);
  // Streams the selected heads of file inputs (v may be null) into the device a slice of
  // rows at a time: host memory stays a few MiB whatever n is. `progress` gets the fraction
  // done after each slice; `cancelled` is asked between slices (throws Cancelled). n is K's
  // rows; Q's rows are positions [queryBegin, n), and the Q rows below are zeros (a capture
  // of the last queries: AttentionSpec::queryBegin gives those rows no keys).
  static HeadData fromSources(Context& ctx, const HeadSource& q, const HeadSource& k, const HeadSource* v,
                              const std::function<void(double)>& progress = {},
                              const std::function<bool()>& cancelled = {}, uint32_t queryBegin = 0);

  uint32_t n() const { return n_; }
  uint32_t d() const { return d_; }
  uint32_t dp() const { return dp_; }
  bool hasV() const { return bool(v_); }
  const Buffer& q() const { return q_; }
  const Buffer& k() const { return k_; }
  const Buffer& v() const { return v_; }
  Buffer& q() { return q_; }
  Buffer& k() { return k_; }
  Buffer& v() { return v_; }

  // Reads a matrix back as [n][d] (padding dropped).
  std::vector<float> download(const Buffer& which) const;

  // Keys per bound chunk: a storage-buffer binding may not exceed maxStorageBufferRange
  // (128 MiB on lavapipe), so long K is bound a chunk at a time.
  uint32_t keysPerChunk() const { return keysPerChunk_; }
  std::vector<KeyChunk> chunks(uint32_t colBegin, uint32_t colEnd) const;
  uint32_t rowsPerWindow() const { return keysPerChunk_; }
  // K's chunk holding `key` as a texel buffer of vec4s (texel = key * dp / 4 + c from the
  // chunk's first key, returned in firstKey), or VK_NULL_HANDLE where the device cannot view
  // that much as texels: then the keys go through the storage buffer.
  VkBufferView keyTexels(uint32_t key, uint32_t& firstKey) const;
  // Tests force small chunks to exercise the multi-chunk path on small inputs. A multiple
  // of 256 keeps binding offsets aligned.
  void setKeysPerChunkForTesting(uint32_t keys);

 private:
  Context* ctx_ = nullptr;
  uint32_t n_ = 0, d_ = 0, dp_ = 0;
  uint32_t keysPerChunk_ = 0;
  Buffer q_, k_, v_;
  std::vector<BufferView> kTexels_;  // one per chunk of keysPerChunk_ keys (empty: none)
  void makeKeyTexels();
};

}  // namespace attnscope
