// The tile pass for one rectangle of the map at one resolution: every texel gets the max and
// the mean of p_ij over the cells it covers (exact, no sampling) and the max logit, written
// straight into an RGBA32F storage image. The work is cut into strips of query rows; the
// caller records one strip at a time and decides when to submit, so a terminal can show
// progress, a window can keep presenting frames, and anyone can cancel between strips.
#pragma once
#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <vector>

#include "compute/attention_spec.h"
#include "compute/block_stats_pass.h"
#include "compute/head_data.h"
#include "compute/row_stats_pass.h"
#include "engine/commands.h"
#include "engine/image.h"

namespace attnscope {

class Kernels;

struct MapRegion {
  uint64_t rowBegin = 0, rowEnd = 0;  // query rows [rowBegin, rowEnd)
  uint64_t colBegin = 0, colEnd = 0;  // keys [colBegin, colEnd)
  uint64_t rows() const { return rowEnd - rowBegin; }
  uint64_t cols() const { return colEnd - colBegin; }
};

// How a MapJob lays out texels and where it gets row statistics.
struct MapJobOptions {
  double flopsPerStrip = 0;     // 0: the device's default (Kernels::flopsPerStrip())
  uint32_t cellsPerTexel = 0;   // 0: spread the region evenly over the texels; k: texel t
                                // covers cells [begin + t k, begin + (t+1) k), clipped (tiles)
  Buffer* rowStats = nullptr;   // the whole map's row statistics, vec2 per row, if kept
  bool rowStatsReady = false;   // true: read them instead of computing them again
  bool entropy = false;         // row statistics also carry t, for each row's entropy
};

// Throws Error when the region is empty or outside an n x n map.
void validateRegion(const MapRegion& r, uint32_t n);

// What a MapJob's RGBA32F image is made for: written by compute, sampled by drawing, copied
// in and out.
constexpr VkImageUsageFlags kMapImageUsage = VK_IMAGE_USAGE_STORAGE_BIT | VK_IMAGE_USAGE_SAMPLED_BIT |
                                             VK_IMAGE_USAGE_TRANSFER_SRC_BIT | VK_IMAGE_USAGE_TRANSFER_DST_BIT;

// Texel channels of the output image.
enum MapChannel { kChannelMax = 0, kChannelMean = 1, kChannelLogit = 2 };

// What a texel of one cell holds as `export` and the Python package give it: p, or the logit
// with a masked cell as -infinity (the tile pass writes -FLT_MAX there).
inline float cellValue(const float* texel, bool logit) {
  if (!logit) return texel[kChannelMean];
  return texel[kChannelLogit] < -1e38f ? -std::numeric_limits<float>::infinity() : texel[kChannelLogit];
}

class MapJob {
 public:
  // texWidth/texHeight are clamped to the region's size (a texel never covers less than a
  // cell). flopsPerStrip sets how much work one recordNext() records (0: the device's
  // default, Kernels::flopsPerStrip()).
  MapJob(Context& ctx, Kernels& kernels, const HeadData& head, const AttentionSpec& spec,
         const MapRegion& region, uint32_t texWidth, uint32_t texHeight,
         double flopsPerStrip = 0);
  // With options: aligned texels and shared row statistics. When options.rowStats is given
  // but not ready and the region covers every key, the job writes the statistics of its
  // rows there as a by-product (the overview sweep fills them for every later tile).
  MapJob(Context& ctx, Kernels& kernels, const HeadData& head, const AttentionSpec& spec,
         const MapRegion& region, uint32_t texWidth, uint32_t texHeight,
         const MapJobOptions& options);

  bool done() const { return nextRow_ >= region_.rowEnd && !inStrip_; }
  double progress() const;
  // Records the next piece of work: a chunk of keys of the current strip, and when the strip's
  // keys are all done its statistics and texels (the first call also clears the image). A
  // piece holds about flopsPerStrip, even when one band of rows over every key is more.
  // Image and buffers are in GENERAL layout and complete for compute/transfer reads after
  // the last piece's barrier. Returns the work recorded (2 d per unmasked cell it covers).
  double recordNext(Recording& rec);
  // The work the next recordNext() will record, so a caller with a time budget can stop
  // before a piece that would not fit.
  double nextPieceFlops();
  // How much one piece may hold from the next strip on (a viewer follows its time budget;
  // the rows of a strip stay as built, the keys per piece change).
  void setPieceFlops(double flops) { pieceFlops_ = flops; }

  const Image& image() const { return image_; }
  Image& image() { return image_; }
  uint32_t width() const { return image_.width(); }
  uint32_t height() const { return image_.height(); }
  const MapRegion& region() const { return region_; }
  // Cells a texel covers along each axis, as bounds: texel x covers keys
  // [colBounds()[x], colBounds()[x+1]).
  const std::vector<uint32_t>& colBounds() const { return cols_.host; }
  const std::vector<uint32_t>& rowBounds() const { return rowBoundsHost_; }
  // Floating-point work the job does in total (2 d per unmasked cell, per pass over it).
  double totalFlops() const { return totalFlops_; }

  // The finished image, taken out of the job with its scratch (partials, row statistics,
  // block bounds) freed: what a cache keeps of a tile is exactly the image. Only when done()
  // and the last piece's submission has completed; the job is empty afterwards.
  Image finish();
  // Device memory the job holds now: its image and its scratch.
  uint64_t deviceBytes() const;

 private:
  Context& ctx_;
  Kernels& kernels_;
  const HeadData& head_;
  AttentionSpec spec_;
  MapRegion region_;
  bool coversAllKeys_;
  uint32_t stripRows_;
  uint64_t nextRow_;
  bool started_ = false;
  double totalFlops_ = 0;
  ColumnBlocks cols_;
  std::vector<uint32_t> rowBoundsHost_;
  Buffer rowBounds_;
  Buffer partials_;
  Buffer stats_;
  Image image_;
  std::unique_ptr<RowStatsPass> rowStats_;
  Buffer* sharedStats_ = nullptr;
  bool sharedStatsReady_ = false;
  bool entropy_ = false;
  // The strip in progress: its rows and the key chunks still to record.
  bool inStrip_ = false;
  uint32_t stripA_ = 0, stripB_ = 0;
  std::vector<KeyChunk> stripChunks_;
  size_t chunkIndex_ = 0;
  uint32_t chunkKeys_ = UINT32_MAX;  // keys per piece; UINT32_MAX: the whole band is one piece
  bool planned_ = false;             // stripA_/B_ and the chunks are those of the next piece's strip
  double pieceFlops_ = 0;
  bool needStats_ = false;           // the rows' statistics are computed over all keys here
  void planStrip();
  double pieceFlops(size_t firstChunk, size_t endChunk) const;
};

// Records and submits the job piece by piece, waiting for each, until it is done. Blocking:
// for small maps, benchmarks and tools that need no progress or cancellation.
void runMapJob(Context& ctx, MapJob& job);

// Steps of tiny dispatches of the map's other kernels, submitting and waiting: stats_merge
// with every count of lanes a strip may ask for, and tile_reduce into images with and
// without power-of-two sides. lavapipe compiles each at its first dispatch (30-70 ms each in
// a frame, measured).
size_t mapWarmUpSteps();
void warmUpMapKernelsStep(Context& ctx, Kernels& kernels, const HeadData& head, const AttentionSpec& spec,
                          size_t step);

// Every pipeline a viewer's tiles may use, dispatched once before its first frame so that no
// frame pays for a compile: each block_stats variant (warmUpVariants) with and without the
// entropy, and the map steps. Spread over helper devices where the device is a CPU
// (helper_devices.h): each helper runs its share on a head of the same shape (zeros) with
// this device's tuned choices, and this device then runs those units too, finding their code
// in Mesa's cache. 6.2 -> ~4 s on a 2-vCPU Xeon's first run. `progress` follows it.
void warmUpViewerKernels(Context& ctx, Kernels& kernels, const HeadData& head, const AttentionSpec& spec,
                         const std::function<void(double)>& progress = {});

// Copies an RGBA32F image (GENERAL layout, compute writes complete) to host memory,
// row-major, 4 floats per texel. Blocking: for render, export and tests.
std::vector<float> readbackImage(Context& ctx, const Image& image);

}  // namespace attnscope
