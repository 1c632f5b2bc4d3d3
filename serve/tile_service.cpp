#include "serve/tile_service.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "compute/gpu_session.h"
#include "compute/head_data.h"
#include "compute/map_job.h"
#include "compute/map_summaries.h"
#include "viz/figure.h"
#include "engine/commands.h"
#include "engine/error.h"

namespace attnscope {

struct TileService::Request {
  uint64_t client = 0;
  TileKey key;
  uint64_t generation = 0;
  bool finished = false;
  bool abandoned = false;  // nobody waits for it any more (deadline passed, client moved on)
  TileReply reply;
};

// Everything on the device, touched only by the worker thread.
struct TileService::Gpu {
  std::unique_ptr<GpuSession> session;
  HeadData head;
  AttentionSpec spec;
  uint64_t generation = 0;
  uint32_t sweepLevel = 0;
  Buffer rowStats;
  bool statsReady = false;
  std::unique_ptr<MapJob> sweep;
  std::unique_ptr<CommandStream> stream;
};

namespace {

constexpr uint64_t kCacheBytes = uint64_t(128) << 20;  // host copies of finished tiles (~170 of 256 x 256)

uint64_t keyCode(const TileKey& k) { return (uint64_t(k.level) << 56) ^ (uint64_t(k.ty) << 28) ^ k.tx; }

// Distance of a tile's centre from a view's centre, in tiles of its level.
double distanceFromView(const TileKey& k, const CellRect& v) {
  double s = double(tileCells(k.level));
  double cx = (k.tx + 0.5) * s, cy = (k.ty + 0.5) * s;
  return std::hypot(cx - 0.5 * (v.x0 + v.x1), cy - 0.5 * (v.y0 + v.y1)) / s;
}

bool intersects(const TileKey& k, const CellRect& v) {
  double s = double(tileCells(k.level));
  return k.tx * s < v.x1 && (k.tx + 1) * s > v.x0 && k.ty * s < v.y1 && (k.ty + 1) * s > v.y0;
}

}  // namespace

TileService::TileService(TileServiceOptions options) : options_(std::move(options)), gpu_(std::make_unique<Gpu>()) {
  info_.spec = options_.spec;
  info_.heads = options_.heads;
  info_.head = options_.head;
  info_.layers = options_.layers;
  info_.layer = options_.layer;
  info_.title = options_.title;
  info_.coarsestLevel = coarsestLevel(options_.spec.n);
  uint32_t sweep = 0;
  while ((uint64_t(options_.spec.n) + (uint64_t(1) << sweep) - 1) >> sweep > options_.sweepTexels) ++sweep;
  info_.sweepLevel = sweep;
  info_.generation = generation_;
  worker_ = std::thread([this] { run(); });
}

TileService::~TileService() { stop(); }

void TileService::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  done_.notify_all();
  if (worker_.joinable()) worker_.join();
}

void TileService::waitUntilStarted() {
  std::unique_lock lock(mutex_);
  done_.wait(lock, [&] { return started_ || !startError_.empty() || stopping_; });
  if (!startError_.empty()) throw Error(startError_);
}

ServiceInfo TileService::info() const {
  std::lock_guard lock(mutex_);
  ServiceInfo i = info_;
  i.queued = queue_.size();
  i.tilesCached = cache_.size();
  return i;
}

TileService::Strips TileService::strips() const {
  std::lock_guard lock(mutex_);
  return strips_;
}

std::vector<float> TileService::rowStats(uint32_t begin, uint32_t end) const {
  std::lock_guard lock(mutex_);
  if (rowStats_.empty() || begin >= end || end > info_.spec.n) return {};
  return std::vector<float>(rowStats_.begin() + size_t(begin) * 4, rowStats_.begin() + size_t(end) * 4);
}

bool TileService::gone(uint64_t client) const {
  if (client == 0) return false;
  auto it = lastSeen_.find(client);
  return it != lastSeen_.end() &&
         std::chrono::steady_clock::now() - it->second > std::chrono::duration<double>(options_.clientTimeoutSeconds);
}

void TileService::setView(uint64_t client, const CellRect& view, std::optional<uint32_t> level) {
  std::lock_guard lock(mutex_);
  views_[client] = view;
  lastSeen_[client] = std::chrono::steady_clock::now();
  auto unwanted = [&](const Request& r) {
    return r.client == client && (!intersects(r.key, view) ||
                                  (level && r.key.level != *level && r.key.level != info_.coarsestLevel));
  };
  for (auto& r : queue_)
    if (unwanted(*r)) r->abandoned = true;
  if (computing_ && unwanted(*computing_)) computing_->abandoned = true;
  done_.notify_all();
}

AttentionSpec SpecOverrides::appliedTo(AttentionSpec spec) const {
  if (mask) spec.mask = *mask;
  if (window) spec.window = *window;
  if (scale) spec.scale = *scale;
  if (temperature) spec.temperature = *temperature;
  if (softcap) spec.softcap = *softcap;
  return spec;
}

void SpecOverrides::merge(const SpecOverrides& newer) {
  if (newer.mask) mask = newer.mask;
  if (newer.window) window = newer.window;
  if (newer.scale) scale = newer.scale;
  if (newer.temperature) temperature = newer.temperature;
  if (newer.softcap) softcap = newer.softcap;
}

uint64_t TileService::select(uint32_t layer, uint32_t head, const SpecOverrides& change) {
  std::lock_guard lock(mutex_);
  ++generation_;
  overrides_.merge(change);
  info_.generation = generation_;
  info_.layer = layer;
  info_.head = head;
  info_.spec = overrides_.appliedTo(info_.spec);  // until the worker has the layer's own
  info_.sweepProgress = 0;
  info_.rowStatsReady = false;
  rowStats_.clear();
  sweepTexels_.clear();
  strips_ = Strips();
  pendingSelect_ = std::make_pair(layer, head);
  for (auto& r : queue_) r->abandoned = true;
  wake_.notify_all();
  done_.notify_all();
  return generation_;
}

TileReply TileService::tile(uint64_t client, const TileKey& key, uint64_t generation,
                            std::chrono::steady_clock::time_point deadline) {
  std::unique_lock lock(mutex_);
  if (stopping_) return {TileStatus::Stopped, nullptr, "the server is stopping"};
  if (generation != generation_) return {TileStatus::Stale, nullptr, "the parameters changed"};
  if (client != 0) lastSeen_[client] = std::chrono::steady_clock::now();  // any request says the client is there
  auto hit = cache_.find({generation, keyCode(key)});
  if (hit != cache_.end()) return {TileStatus::Ready, hit->second, ""};
  auto r = std::make_shared<Request>();
  r->client = client;
  r->key = key;
  r->generation = generation;
  queue_.push_back(r);
  wake_.notify_all();
  bool inTime = done_.wait_until(lock, deadline, [&] { return r->finished || r->abandoned || stopping_; });
  if (r->finished) return r->reply;
  r->abandoned = true;  // the worker drops it, or stops it between pieces
  if (stopping_) return {TileStatus::Stopped, nullptr, "the server is stopping"};
  if (!inTime) return {TileStatus::Cancelled, nullptr, "not computed in time"};
  return {generation != generation_ ? TileStatus::Stale : TileStatus::Cancelled, nullptr,
          "the view no longer shows it"};
}

std::shared_ptr<TileService::Request> TileService::nextRequest() {
  // Drop what nobody waits for; then the request nearest its client's view centre.
  bool dropped = false;
  for (auto& r : queue_)
    if (!r->abandoned && gone(r->client)) r->abandoned = dropped = true;
  if (dropped) done_.notify_all();  // their waiters answer at once
  queue_.erase(std::remove_if(queue_.begin(), queue_.end(), [](const auto& r) { return r->abandoned; }), queue_.end());
  for (auto it = lastSeen_.begin(); it != lastSeen_.end();) {  // forget clients long gone
    if (std::chrono::steady_clock::now() - it->second > std::chrono::duration<double>(30 * options_.clientTimeoutSeconds)) {
      views_.erase(it->first);
      it = lastSeen_.erase(it);
    } else {
      ++it;
    }
  }
  // Tiles as coarse as the sweep come out of it: they wait for it rather than repeat its work.
  auto waitsForSweep = [&](const Request& r) { return r.key.level >= info_.sweepLevel && !info_.rowStatsReady; };
  auto best = queue_.end();
  double bestDistance = 1e300;
  for (auto it = queue_.begin(); it != queue_.end(); ++it) {
    if (waitsForSweep(**it)) continue;
    auto v = views_.find((*it)->client);
    double d = v == views_.end() ? 0.0 : distanceFromView((*it)->key, v->second);
    if (d < bestDistance) {
      bestDistance = d;
      best = it;
    }
  }
  if (best == queue_.end()) return nullptr;
  auto r = *best;
  queue_.erase(best);
  return r;
}

void TileService::run() {
  Gpu& g = *gpu_;
  try {
    g.session = std::make_unique<GpuSession>(options_.device);
    LoadedHead h = options_.loadHead(*g.session->ctx, *g.session->kernels, options_.layer, options_.head);
    g.head = std::move(h.head);
    g.spec = h.spec ? *h.spec : options_.spec;
    g.session->prepareKernels(g.head.dp());
    g.stream = std::make_unique<CommandStream>(*g.session->ctx);
    g.rowStats = Buffer(*g.session->ctx, uint64_t(g.spec.n) * kStatsBytes, VK_BUFFER_USAGE_STORAGE_BUFFER_BIT,
                        MemoryUse::DeviceLocal, "serve row stats");
    std::lock_guard lock(mutex_);
    g.generation = generation_;
    info_.device = g.session->ctx->caps().name;
    info_.spec = g.spec;
    started_ = true;
  } catch (const std::exception& e) {
    std::lock_guard lock(mutex_);
    startError_ = e.what();
    done_.notify_all();
    return;
  }
  done_.notify_all();

  while (true) {
    std::shared_ptr<Request> r;
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [&] {
        return stopping_ || pendingSelect_ || !queue_.empty() || !info_.rowStatsReady;
      });
      if (stopping_) break;
      if (pendingSelect_) {
        auto [layer, head] = *pendingSelect_;
        pendingSelect_.reset();
        uint64_t gen = generation_;
        SpecOverrides overrides = overrides_;
        lock.unlock();
        try {
          g.session->ctx->waitIdle();
          g.sweep.reset();
          g.statsReady = false;
          LoadedHead h = options_.loadHead(*g.session->ctx, *g.session->kernels, layer, head);
          g.head = std::move(h.head);
          AttentionSpec own = h.spec ? *h.spec : options_.spec;
          g.spec = overrides.appliedTo(own);
          try {
            g.spec.validate();
          } catch (const Error& e) {  // the overrides do not fit this layer: its own spec
            std::fprintf(stderr, "attnscope serve: layer %u: %s; its own parameters are used\n", layer, e.what());
            g.spec = own;
          }
          g.generation = gen;
          std::lock_guard relock(mutex_);
          if (generation_ == gen) info_.spec = g.spec;  // what the tiles of this generation use
        } catch (const std::exception& e) {
          std::fprintf(stderr, "attnscope serve: cannot switch to layer %u head %u: %s\n", layer, head, e.what());
        }
        continue;
      }
      r = nextRequest();
    }
    try {
      if (r) {
        {
          std::lock_guard lock(mutex_);
          computing_ = r;
        }
        compute(*r);
        std::lock_guard lock(mutex_);
        computing_.reset();
      } else {
        sweepPiece();
      }
    } catch (const std::exception& e) {
      std::fprintf(stderr, "attnscope serve: %s\n", e.what());
      if (r) {
        std::lock_guard lock(mutex_);
        computing_.reset();
        r->reply = {TileStatus::Failed, nullptr, e.what()};
        r->finished = true;
        done_.notify_all();
      } else {
        std::lock_guard lock(mutex_);
        info_.rowStatsReady = true;  // no sweep, no loop on it: tiles compute their own statistics
      }
    }
  }
  if (g.session) g.session->ctx->waitIdleInDestructor();
  g.sweep.reset();
  g.head = HeadData();
  g.rowStats = Buffer();
  g.stream.reset();
  g.session.reset();
}

void TileService::compute(Request& r) {
  Gpu& g = *gpu_;
  if (r.generation != g.generation) {
    std::lock_guard lock(mutex_);
    r.reply = {TileStatus::Stale, nullptr, "the parameters changed"};
    r.finished = true;
    done_.notify_all();
    return;
  }
  {
    std::lock_guard lock(mutex_);
    if (r.key.level >= info_.sweepLevel && !sweepTexels_.empty()) {
      answer(r, fromSweep(r.key));
      return;
    }
  }
  MapJobOptions o;
  o.cellsPerTexel = 1u << r.key.level;
  if (g.statsReady) {
    o.rowStats = &g.rowStats;
    o.rowStatsReady = true;
  }
  MapRegion region = tileRegion(r.key, g.spec.n);
  MapJob job(*g.session->ctx, *g.session->kernels, g.head, g.spec, region, 0, 0, o);
  while (!job.done()) {
    {
      std::lock_guard lock(mutex_);
      if (gone(r.client)) r.abandoned = true;
      if (r.abandoned || stopping_ || pendingSelect_) {
        done_.notify_all();  // a waiter, if any is left, answers now
        return;
      }
    }
    Recording rec = g.stream->begin();
    job.recordNext(rec);
    g.stream->submitAndWait();
  }
  std::vector<float> texels = readbackImage(*g.session->ctx, job.image());
  auto t = std::make_shared<TileData>();
  t->key = r.key;
  t->w = job.width();
  t->h = job.height();
  t->col0 = region.colBegin;
  t->row0 = region.rowBegin;
  t->per = uint64_t(1) << r.key.level;
  t->values.resize(size_t(t->w) * t->h * 3);
  for (size_t i = 0; i < size_t(t->w) * t->h; ++i)
    for (int c = 0; c < 3; ++c) t->values[i * 3 + c] = texels[i * 4 + c];
  std::lock_guard lock(mutex_);
  answer(r, std::move(t));
}

void TileService::answer(Request& r, std::shared_ptr<const TileData> t) {
  // Kept for other clients (oldest out first), and handed to the waiter.
  auto id = std::make_pair(r.generation, keyCode(r.key));
  cache_[id] = t;
  cacheOrder_.push_back(id);
  while (cache_.size() * (uint64_t(kTileTexels) * kTileTexels * 12) > kCacheBytes && !cacheOrder_.empty()) {
    cache_.erase(cacheOrder_.front());
    cacheOrder_.pop_front();
  }
  ++info_.tilesComputed;
  r.reply = {TileStatus::Ready, std::move(t), ""};
  r.finished = true;
  done_.notify_all();
}

std::shared_ptr<const TileData> TileService::fromSweep(const TileKey& key) const {
  // A tile texel of level L covers f x f sweep texels (f = 2^(L - sweep level)), all whole
  // cells of the same grid: its max is their max, its mean their means weighted by the cells
  // each covers (texels at the map's edge cover fewer).
  const uint64_t n = info_.spec.n, sweepPer = uint64_t(1) << info_.sweepLevel;
  const uint32_t f = 1u << (key.level - info_.sweepLevel);
  MapRegion region = tileRegion(key, n);
  auto t = std::make_shared<TileData>();
  t->key = key;
  t->per = uint64_t(1) << key.level;
  t->col0 = region.colBegin;
  t->row0 = region.rowBegin;
  t->w = uint32_t((region.cols() + t->per - 1) / t->per);
  t->h = uint32_t((region.rows() + t->per - 1) / t->per);
  t->values.resize(size_t(t->w) * t->h * 3);
  auto cellsAlong = [&](uint64_t sweepIndex) {
    uint64_t a = sweepIndex * sweepPer;
    return double(std::min(n, a + sweepPer) - std::min(n, a));
  };
  for (uint32_t y = 0; y < t->h; ++y)
    for (uint32_t x = 0; x < t->w; ++x) {
      double maxP = 0, sum = 0, cells = 0;
      float maxLogit = -std::numeric_limits<float>::max();  // the tile pass's "every cell masked"
      uint64_t sx0 = region.colBegin / sweepPer + uint64_t(x) * f, sy0 = region.rowBegin / sweepPer + uint64_t(y) * f;
      for (uint64_t sy = sy0; sy < std::min<uint64_t>(sy0 + f, sweepH_); ++sy)
        for (uint64_t sx = sx0; sx < std::min<uint64_t>(sx0 + f, sweepW_); ++sx) {
          const float* px = &sweepTexels_[(sy * sweepW_ + sx) * 4];
          double c = cellsAlong(sx) * cellsAlong(sy);
          maxP = std::max(maxP, double(px[kChannelMax]));
          sum += double(px[kChannelMean]) * c;
          cells += c;
          maxLogit = std::max(maxLogit, px[kChannelLogit]);
        }
      float* out = &t->values[(size_t(y) * t->w + x) * 3];
      out[0] = float(maxP);
      out[1] = cells > 0 ? float(sum / cells) : 0.0f;
      out[2] = maxLogit;
    }
  return t;
}

void TileService::sweepPiece() {
  Gpu& g = *gpu_;
  if (!g.sweep) {
    MapJobOptions o;
    o.cellsPerTexel = 1u << info_.sweepLevel;
    o.rowStats = &g.rowStats;  // written as a by-product, every row
    o.entropy = true;
    g.sweep = std::make_unique<MapJob>(*g.session->ctx, *g.session->kernels, g.head, g.spec,
                                       MapRegion{0, g.spec.n, 0, g.spec.n}, 0, 0, o);
  }
  Recording rec = g.stream->begin();
  g.sweep->recordNext(rec);
  g.stream->submitAndWait();
  double progress = g.sweep->progress();
  bool finished = g.sweep->done();
  std::vector<float> stats, texels;
  uint32_t w = 0, h = 0;
  if (finished) {
    stats.resize(size_t(g.spec.n) * 4);
    g.rowStats.download(stats.data(), stats.size() * 4);
    texels = readbackImage(*g.session->ctx, g.sweep->image());
    w = g.sweep->width();
    h = g.sweep->height();
    g.statsReady = true;
    g.sweep.reset();
  }
  Strips strips;
  if (finished) {
    uint64_t per = uint64_t(1) << info_.sweepLevel;
    uint32_t n = g.spec.n;
    strips.block = per;
    strips.received = receivedPerKeyBlock(SweepTexels{texels, w, h, per, n});
    for (int channel = 0; channel < 2; ++channel)
      for (int log = 0; log < 2; ++log) {
        HeatmapStyle style;
        style.channel = channel == 0 ? kChannelMax : kChannelMean;
        style.logScale = log == 1;
        ValueRange r = chooseRange(texels, style);
        strips.range[channel][log][0] = r.vmin;
        strips.range[channel][log][1] = r.vmax;
      }
    std::vector<double> prefix = rowEntropyPrefix(stats, n);
    for (uint32_t y = 0; y < h; ++y) {
      uint64_t a = std::min<uint64_t>(n, y * per), b = std::min<uint64_t>(n, (y + 1) * per);
      strips.entropy.push_back(b > a ? (prefix[b] - prefix[a]) / double(b - a) : 0.0);
    }
  }
  std::lock_guard lock(mutex_);
  if (g.generation != generation_) return;  // a select() came in meanwhile
  info_.sweepProgress = finished ? 1.0 : progress;
  if (finished) {
    strips_ = std::move(strips);
    info_.rowStatsReady = true;
    rowStats_ = std::move(stats);
    sweepTexels_ = std::move(texels);
    sweepW_ = w;
    sweepH_ = h;
  }
}

}  // namespace attnscope
