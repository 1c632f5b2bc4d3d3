#include "compute/map_job.h"

#include <algorithm>
#include <cfloat>
#include <cstring>

#include "compute/block_stats_pass.h"
#include "compute/gpu_params.h"
#include "compute/helper_devices.h"
#include "compute/kernels.h"
#include "engine/barriers.h"
#include "engine/context.h"
#include "engine/error.h"

namespace attnscope {

void validateRegion(const MapRegion& r, uint32_t n) {
  auto range = [](uint64_t a, uint64_t b) {
    return "[" + std::to_string(a) + ", " + std::to_string(b) + ")";
  };
  if (r.rowBegin >= r.rowEnd || r.colBegin >= r.colEnd)
    throw Error("the rectangle rows " + range(r.rowBegin, r.rowEnd) + " x columns " +
                range(r.colBegin, r.colEnd) + " is empty: give begin < end");
  if (r.rowEnd > n || r.colEnd > n)
    throw Error("the rectangle rows " + range(r.rowBegin, r.rowEnd) + " x columns " +
                range(r.colBegin, r.colEnd) + " lies outside the " + std::to_string(n) + " x " +
                std::to_string(n) + " map: indices run from 0 to " + std::to_string(n));
}

static std::vector<uint32_t> alignedBounds(uint64_t begin, uint64_t end, uint32_t cellsPerTexel, uint32_t texels) {
  std::vector<uint32_t> b(texels + 1);
  for (uint32_t t = 0; t <= texels; ++t) b[t] = uint32_t(std::min<uint64_t>(begin + uint64_t(t) * cellsPerTexel, end));
  return b;
}

MapJob::MapJob(Context& ctx, Kernels& kernels, const HeadData& head, const AttentionSpec& spec,
               const MapRegion& region, uint32_t texWidth, uint32_t texHeight,
               double flopsPerStrip)
    : MapJob(ctx, kernels, head, spec, region, texWidth, texHeight, MapJobOptions{flopsPerStrip}) {}

MapJob::MapJob(Context& ctx, Kernels& kernels, const HeadData& head, const AttentionSpec& spec,
               const MapRegion& region, uint32_t texWidth, uint32_t texHeight,
               const MapJobOptions& options)
    : ctx_(ctx), kernels_(kernels), head_(head), spec_(spec), region_(region),
      sharedStats_(options.rowStats), sharedStatsReady_(options.rowStatsReady), entropy_(options.entropy) {
  double flopsPerStrip = options.flopsPerStrip;
  spec_.validate();
  validateRegion(region, spec.n);
  if (head.n() != spec.n || head.d() != spec.d)
    throw Error("internal: head data does not match the attention spec");
  uint32_t w, h;
  if (options.cellsPerTexel > 0) {
    uint64_t k = options.cellsPerTexel;
    w = uint32_t((region.cols() + k - 1) / k);
    h = uint32_t((region.rows() + k - 1) / k);
  } else {
    w = uint32_t(std::min<uint64_t>(std::max(texWidth, 1u), region.cols()));
    h = uint32_t(std::min<uint64_t>(std::max(texHeight, 1u), region.rows()));
  }
  if (sharedStats_ && sharedStats_->size() < uint64_t(spec.n) * kStatsBytes)
    throw Error("internal: shared row statistics hold fewer than n rows");
  coversAllKeys_ = region.colBegin == 0 && region.colEnd == spec.n;
  nextRow_ = region.rowBegin;

  image_ = Image(ctx, w, h, VK_FORMAT_R32G32B32A32_SFLOAT, kMapImageUsage, "attention tiles");
  cols_ = makeColumnBlocks(ctx, options.cellsPerTexel ? alignedBounds(region.colBegin, region.colEnd, options.cellsPerTexel, w)
                                                     : evenBounds(region.colBegin, region.colEnd, w));
  rowBoundsHost_ = options.cellsPerTexel ? alignedBounds(region.rowBegin, region.rowEnd, options.cellsPerTexel, h)
                                         : evenBounds(region.rowBegin, region.rowEnd, h);
  rowBounds_ = Buffer(ctx, rowBoundsHost_.size() * 4, VK_BUFFER_USAGE_STORAGE_BUFFER_BIT,
                      MemoryUse::Upload, "row bounds");  // like the column blocks: no submit
  rowBounds_.upload(rowBoundsHost_.data(), rowBoundsHost_.size() * 4);

  // Work per query row: the region's keys, plus all keys again for the row statistics when
  // the region does not cover them (the partials then give the statistics for free).
  bool needStats = !coversAllKeys_ && !sharedStatsReady_;
  double keysPerRow = double(region.cols()) + (needStats ? double(spec.n) : 0.0);
  double flopsPerRow = 2.0 * head.dp() * keysPerRow;
  BlockStatsVariant variant =
      kernels.blockStatsVariant(head.dp(), blockShapeFor(double(region.cols()) / w), uint32_t(region.rows()));
  uint32_t group = variant.workgroup * variant.rows;
  if (flopsPerStrip <= 0) flopsPerStrip = kernels.flopsPerStrip();
  uint64_t rows = uint64_t(flopsPerStrip / std::max(flopsPerRow, 1.0));
  // Partials stay under 64 MiB; a strip is a whole number of workgroups.
  rows = std::min<uint64_t>(rows, (uint64_t(64) << 20) / (uint64_t(w) * kStatsBytes));
  rows = std::max<uint64_t>(rows / group * group, group);
  stripRows_ = uint32_t(std::min<uint64_t>(rows, region.rows()));
  pieceFlops_ = flopsPerStrip;
  needStats_ = needStats;

  partials_ = Buffer(ctx, uint64_t(stripRows_) * w * kStatsBytes, VK_BUFFER_USAGE_STORAGE_BUFFER_BIT,
                     MemoryUse::DeviceLocal, "block partials");
  stats_ = Buffer(ctx, uint64_t(stripRows_) * kStatsBytes, VK_BUFFER_USAGE_STORAGE_BUFFER_BIT,
                  MemoryUse::DeviceLocal, "row stats");
  if (needStats) rowStats_ = std::make_unique<RowStatsPass>(ctx, kernels, spec.n, stripRows_, head.dp(), entropy_);

  double regionCells = double(spec.unmaskedCells(region.rowBegin, region.rowEnd, region.colBegin, region.colEnd));
  double statCells = needStats ? double(spec.unmaskedCells(region.rowBegin, region.rowEnd, 0, spec.n)) : 0.0;
  totalFlops_ = 2.0 * spec.d * (regionCells + statCells);
}

double MapJob::progress() const {
  double rows = double(nextRow_ - region_.rowBegin);
  if (inStrip_ && !stripChunks_.empty())  // a strip under way counts by its chunks done
    rows += double(stripB_ - stripA_) * double(chunkIndex_) / double(stripChunks_.size() + 1);
  return rows / double(region_.rows());
}

// The next strip's rows and key chunks. When even one band of rows over the region's keys is
// more than a piece, the keys are cut into chunks recorded one piece at a time (a multiple of
// 256 keys keeps bindings aligned); the piece size is read here, so a change applies from
// the next strip on.
void MapJob::planStrip() {
  if (planned_) return;
  planned_ = true;
  stripA_ = uint32_t(nextRow_);
  stripB_ = uint32_t(std::min<uint64_t>(nextRow_ + stripRows_, region_.rowEnd));
  double bandFlops = 2.0 * head_.dp() * double(stripB_ - stripA_) * double(region_.cols());
  chunkKeys_ = UINT32_MAX;
  if (bandFlops > pieceFlops_ * 1.5) {
    uint64_t keys = uint64_t(pieceFlops_ / (2.0 * head_.dp() * (stripB_ - stripA_))) / 256 * 256;
    chunkKeys_ = uint32_t(std::max<uint64_t>(keys, 1024));
  }
  // Chunks the mask hides from every row of the strip are left out: their partials stay
  // zero, which the tile pass reads as "every key masked" (under a causal mask, most of the
  // first strips' keys; they used to cost a dispatch each for nothing).
  stripChunks_.clear();
  for (const KeyChunk& c : head_.chunks(uint32_t(region_.colBegin), uint32_t(region_.colEnd)))
    for (uint32_t k = c.begin; k < c.end; k = uint32_t(std::min<uint64_t>(uint64_t(k) + chunkKeys_, c.end))) {
      KeyChunk piece{k, uint32_t(std::min<uint64_t>(uint64_t(k) + chunkKeys_, c.end))};
      if (spec_.unmaskedCells(stripA_, stripB_, piece.begin, piece.end) > 0) stripChunks_.push_back(piece);
    }
  chunkIndex_ = 0;
}

// Chunks [firstChunk, endChunk) of the planned strip, and the strip's row statistics over
// every key when this piece ends the strip and the job computes them itself.
double MapJob::pieceFlops(size_t firstChunk, size_t endChunk) const {
  double cells = 0;
  for (size_t c = firstChunk; c < endChunk; ++c)
    cells += double(spec_.unmaskedCells(stripA_, stripB_, stripChunks_[c].begin, stripChunks_[c].end));
  if (endChunk == stripChunks_.size() && needStats_) cells += double(spec_.unmaskedCells(stripA_, stripB_, 0, spec_.n));
  return 2.0 * spec_.d * cells;
}

double MapJob::nextPieceFlops() {
  if (done()) return 0;
  planStrip();
  size_t end = chunkKeys_ == UINT32_MAX ? stripChunks_.size() : std::min(chunkIndex_ + 1, stripChunks_.size());
  return pieceFlops(chunkIndex_, end);
}

double MapJob::recordNext(Recording& rec) {
  if (done()) return 0;
  double flops = nextPieceFlops();
  VkCommandBuffer cmd = rec.cmd;
  if (!started_) {
    started_ = true;
    // Fresh image -> cleared: nothing was in it before, so no source access.
    barrier::imageLayout(cmd, image_.handle(), VK_IMAGE_LAYOUT_UNDEFINED, VK_IMAGE_LAYOUT_GENERAL,
                         VK_PIPELINE_STAGE_TOP_OF_PIPE_BIT, 0, VK_PIPELINE_STAGE_TRANSFER_BIT,
                         VK_ACCESS_TRANSFER_WRITE_BIT);
    VkClearColorValue clear{};
    clear.float32[2] = -FLT_MAX;  // max logit of "no unmasked cell yet" (NO_MAX in the shaders)
    VkImageSubresourceRange range{VK_IMAGE_ASPECT_COLOR_BIT, 0, 1, 0, 1};
    vkCmdClearColorImage(cmd, image_.handle(), VK_IMAGE_LAYOUT_GENERAL, &clear, 1, &range);
    // The clear lands before the tile pass reads and accumulates into the image.
    barrier::imageLayout(cmd, image_.handle(), VK_IMAGE_LAYOUT_GENERAL, VK_IMAGE_LAYOUT_GENERAL,
                         VK_PIPELINE_STAGE_TRANSFER_BIT, VK_ACCESS_TRANSFER_WRITE_BIT,
                         VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT,
                         VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT);
  }
  uint32_t w = image_.width();
  TimedScope timed(rec, "tile_pass");
  // One dispatch over every block of the region writes each partial once: no zeroing, no
  // read-merge-write (at 16k tokens and 1024 texels that traffic was a quarter of the time).
  bool oneDispatch = stripChunks_.size() == 1 && stripChunks_[0].begin == region_.colBegin &&
                     stripChunks_[0].end == region_.colEnd;
  if (!inStrip_) {
    inStrip_ = true;  // planned by nextPieceFlops()
    if (oneDispatch) {
      // The previous strip's tile pass has read the partials before they are written again.
      barrier::computeToCompute(cmd);
    } else {
      // The previous strip's tile pass has read the partials before they are zeroed again.
      barrier::computeToTransferWrite(cmd);
      vkCmdFillBuffer(cmd, partials_.handle(), 0, uint64_t(stripB_ - stripA_) * w * kStatsBytes, 0);
      // Zeroed partials (the merge identity) before the block statistics merge into them.
      barrier::transferToCompute(cmd);
    }
  }
  uint32_t a = stripA_, b = stripB_;
  if (chunkIndex_ < stripChunks_.size()) {
    // Chunks merge into the same partials: read-after-write between them (and across pieces
    // recorded into different command buffers, the queue keeps the order; the barrier still
    // orders the memory).
    if (chunkIndex_ > 0) barrier::computeToCompute(cmd);
    BlockStatsArgs args{a, b, &cols_, stripChunks_[chunkIndex_], &partials_, a, entropy_};
    args.overwrite = oneDispatch;
    recordBlockStats(rec, kernels_, head_, spec_, args);
    ++chunkIndex_;
    if (chunkIndex_ < stripChunks_.size() && chunkKeys_ != UINT32_MAX) return flops;  // the rest next time
    while (chunkIndex_ < stripChunks_.size()) {
      barrier::computeToCompute(cmd);
      recordBlockStats(rec, kernels_, head_, spec_, {a, b, &cols_, stripChunks_[chunkIndex_], &partials_, a, entropy_});
      ++chunkIndex_;
    }
  }
  // Where this strip's row statistics live: the shared whole-map buffer (index = row) or
  // this job's strip buffer (index = row - a).
  const Buffer& stats = sharedStats_ ? *sharedStats_ : stats_;
  uint32_t statsRow0 = sharedStats_ ? 0 : a;
  if (sharedStats_ && sharedStatsReady_) {
    // Statistics computed earlier (by the overview sweep); only the partials were needed.
    barrier::computeToCompute(cmd);  // the partials are complete before the tile pass reads them
  } else if (coversAllKeys_) {
    // The partials are complete before the row statistics are merged from them.
    barrier::computeToCompute(cmd);
    gpu::StatsMergeParams p{b - a, w, 0, a - statsRow0};
    TimedScope mergeTimed(rec, "stats_merge");
    dispatch(ctx_, cmd, rec.arena, kernels_.statsMerge(b - a, w),
             {Binding::storage(partials_), Binding::storage(stats)}, p, Groups{kernels_.statsMergeGroups(b - a, w)});
    // Row statistics are written before the tile pass reads them.
    barrier::computeToCompute(cmd);
  } else {
    // RowStatsPass ends with its own barrier; this one orders the partials as well.
    rowStats_->record(rec, head_, spec_, a, b, stats, statsRow0);
  }

  // Texel rows that intersect [a, b).
  auto& rb = rowBoundsHost_;
  uint32_t ty0 = uint32_t(std::upper_bound(rb.begin(), rb.end(), a) - rb.begin()) - 1;
  uint32_t ty1 = uint32_t(std::lower_bound(rb.begin(), rb.end(), b) - rb.begin());  // exclusive
  gpu::TileReduceParams tp{};
  tp.texRowFirst = ty0;
  tp.texRowCount = ty1 - ty0;
  tp.texColCount = w;
  tp.rowBegin = a;
  tp.rowEnd = b;
  tp.partRow0 = a;
  tp.statsRow0 = statsRow0;
  TimedScope reduceTimed(rec, "tile_reduce");
  dispatch(ctx_, cmd, rec.arena, kernels_.tileReduce(),
           {Binding::storage(partials_), Binding::storage(stats), Binding::storage(rowBounds_),
            Binding::storage(cols_.device), Binding::storageImage(image_.view())},
           tp, Items{w, tp.texRowCount});
  // Texels of this strip are written before the next strip accumulates into them or a
  // copy reads them out.
  barrier::imageLayout(cmd, image_.handle(), VK_IMAGE_LAYOUT_GENERAL, VK_IMAGE_LAYOUT_GENERAL,
                       VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, VK_ACCESS_SHADER_WRITE_BIT,
                       VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT |
                           VK_PIPELINE_STAGE_FRAGMENT_SHADER_BIT,
                       VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT |
                           VK_ACCESS_TRANSFER_READ_BIT);
  nextRow_ = b;
  inStrip_ = false;
  planned_ = false;
  return flops;
}

Image MapJob::finish() {
  if (!done()) throw Error("internal: a tile was taken before its job finished");
  partials_ = Buffer();
  stats_ = Buffer();
  rowBounds_ = Buffer();
  cols_.device = Buffer();
  rowStats_.reset();
  return std::move(image_);
}

uint64_t MapJob::deviceBytes() const {
  return image_.memoryBytes() + partials_.memoryBytes() + stats_.memoryBytes() + rowBounds_.memoryBytes() +
         cols_.device.memoryBytes() + (rowStats_ ? rowStats_->deviceBytes() : 0);
}

void runMapJob(Context& ctx, MapJob& job) {
  CommandStream stream(ctx, false);
  while (!job.done()) {
    Recording rec = stream.begin();
    job.recordNext(rec);
    stream.submitAndWait();
  }
}

namespace {

// stats_merge with lanes per row from `first` to `last` (powers of two): one row of 8 x lanes
// blocks asks for exactly that many. The partials are zeros, which the merge skips.
void warmUpMerges(Context& ctx, Kernels& kernels, uint32_t first, uint32_t last) {
  Buffer partials(ctx, kStatsBytes * 8 * last, VK_BUFFER_USAGE_STORAGE_BUFFER_BIT | VK_BUFFER_USAGE_TRANSFER_DST_BIT,
                  MemoryUse::DeviceLocal, "warm-up partials");
  Buffer stats(ctx, kStatsBytes, VK_BUFFER_USAGE_STORAGE_BUFFER_BIT, MemoryUse::DeviceLocal, "warm-up stats");
  CommandStream stream(ctx, false);
  Recording rec = stream.begin();
  vkCmdFillBuffer(rec.cmd, partials.handle(), 0, VK_WHOLE_SIZE, 0);
  barrier::transferToCompute(rec.cmd);  // zeros before the merges read them
  for (uint32_t lanes = first; lanes <= last; lanes *= 2) {
    uint32_t blocks = 8 * lanes;
    if (lanes > first) barrier::computeToCompute(rec.cmd);  // each merge writes the same row: write after write
    gpu::StatsMergeParams p{1, blocks, 0, 0};
    dispatch(ctx, rec.cmd, rec.arena, kernels.statsMerge(1, blocks), {Binding::storage(partials), Binding::storage(stats)},
             p, Groups{1});
  }
  stream.submitAndWait();
}

// The steps of warmUpMapKernels: the merges in two submissions, then tile_reduce writing
// images whose sides are, or are not, powers of two (llvmpipe makes its code again for each:
// whole-map images are rarely, tiles mostly, map-edge tiles not).
constexpr size_t kMapWarmUpSteps = 6;

}  // namespace

size_t mapWarmUpSteps() { return kMapWarmUpSteps; }

void warmUpMapKernelsStep(Context& ctx, Kernels& kernels, const HeadData& head, const AttentionSpec& spec,
                          size_t step) {
  if (step == 0) return warmUpMerges(ctx, kernels, 1, 8);
  if (step == 1) return warmUpMerges(ctx, kernels, 16, 64);
  uint32_t h = step < 4 ? 1 : 3, w = step % 2 == 0 ? 1 : 3;
  if (h > spec.n || w > spec.n) return;
  MapJob job(ctx, kernels, head, spec, MapRegion{0, h, 0, w}, w, h);
  runMapJob(ctx, job);
}

void warmUpViewerKernels(Context& ctx, Kernels& kernels, const HeadData& head, const AttentionSpec& spec,
                         const std::function<void(double)>& progress) {
  const uint32_t dp = head.dp();
  std::vector<BlockStatsVariant> variants = warmUpVariants(kernels, dp);
  std::sort(variants.begin(), variants.end(),
            [](const BlockStatsVariant& a, const BlockStatsVariant& b) { return a.rows > b.rows; });
  // Units, the costliest first: each block_stats variant with and without the entropy, then
  // the map steps.
  const size_t statsUnits = 2 * variants.size(), units = statsUnits + mapWarmUpSteps();
  auto runUnit = [&](Context& c, Kernels& k, const HeadData& h, size_t unit) {
    if (unit < statsUnits) warmUpBlockStatsVariant(c, k, h, spec, variants[unit / 2], unit % 2 == 1);
    else warmUpMapKernelsStep(c, k, h, spec, unit - statsUnits);
  };
  std::vector<std::unique_ptr<HeadData>> zeros(kMaxHelperDevices + 1);  // a helper's head of this shape, by slot
  std::vector<int> ranOn = spreadOverHelperDevices(
      ctx, kernels, units,
      [&](Context& c, Kernels& k, unsigned slot, size_t unit) {
        if (slot == 0) return runUnit(c, k, head, unit);
        if (!zeros[slot]) {
          zeros[slot] = std::make_unique<HeadData>(c, head.n(), head.d(), false);
          c.immediate([&](VkCommandBuffer cmd) {
            vkCmdFillBuffer(cmd, zeros[slot]->q().handle(), 0, VK_WHOLE_SIZE, 0);
            vkCmdFillBuffer(cmd, zeros[slot]->k().handle(), 0, VK_WHOLE_SIZE, 0);
            barrier::transferToCompute(cmd);  // zeros before the dispatches read them
          });
        }
        runUnit(c, k, *zeros[slot], unit);
      },
      HelperHooks{[&](Kernels& helper) {  // this device's choices, so that the map steps use its variants
                    for (int s = 0; s < kBlockShapes; ++s)
                      helper.chooseBlockStats(dp, BlockShape(s), kernels.blockStatsVariant(dp, BlockShape(s)));
                  },
                  [&](unsigned slot) { zeros[slot].reset(); }},
      [&](double f) {
        if (progress) progress(0.9 * f);
      });
  // What this device did not run itself (a helper's units: their code is in Mesa's cache now),
  // here, where an error is reported.
  std::vector<size_t> left;
  for (size_t unit = 0; unit < units; ++unit)
    if (ranOn[unit] != 0) left.push_back(unit);
  for (size_t i = 0; i < left.size(); ++i) {
    runUnit(ctx, kernels, head, left[i]);
    if (progress) progress(0.9 + 0.1 * double(i + 1) / left.size());
  }
  if (progress) progress(1.0);
}

std::vector<float> readbackImage(Context& ctx, const Image& image) {
  uint64_t bytes = uint64_t(image.width()) * image.height() * 16;
  Buffer staging(ctx, bytes, VK_BUFFER_USAGE_TRANSFER_DST_BIT, MemoryUse::Readback, "image readback");
  ctx.immediate([&](VkCommandBuffer cmd) {
    VkBufferImageCopy c{};
    c.imageSubresource = {VK_IMAGE_ASPECT_COLOR_BIT, 0, 0, 1};
    c.imageExtent = {image.width(), image.height(), 1};
    vkCmdCopyImageToBuffer(cmd, image.handle(), VK_IMAGE_LAYOUT_GENERAL, staging.handle(), 1, &c);
    // The copy is finished before the host reads the staging memory.
    barrier::transferToHost(cmd);
  });
  staging.invalidate();
  std::vector<float> out(bytes / 4);
  std::memcpy(out.data(), staging.mapped(), bytes);
  return out;
}

}  // namespace attnscope
