// The viewer's tiles for clients that are not windows: one thread owns the Vulkan device and
// computes, one piece at a time, the tiles that HTTP handlers (any number of threads) ask
// for. Tiles are exactly the viewer's (viz/tile_pyramid levels, MapJob with 2^level cells per
// texel, the row statistics of the same whole-map sweep once it is done). Requests queue
// nearest their client's view centre first; a client's newer view cancels its queued
// requests for tiles that view no longer shows, and a request nobody waits for any more is
// dropped before its work starts.
#pragma once
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "compute/attention_spec.h"
#include "engine/context.h"
#include "viz/camera.h"
#include "viz/tile_pyramid.h"
#include "viz/viewer.h"

namespace attnscope {

// What clients changed of the attention. Unset fields keep the layer's own: a capture's
// metadata for that layer (its mask, window, scale, soft cap), else the options' spec. They
// persist across head and layer switches, as the viewer's temperature does.
struct SpecOverrides {
  std::optional<MaskKind> mask;
  std::optional<uint32_t> window;
  std::optional<double> scale, temperature;
  std::optional<std::optional<double>> softcap;  // set to nullopt: no cap
  AttentionSpec appliedTo(AttentionSpec spec) const;
  void merge(const SpecOverrides& newer);  // newer's set fields win
};

struct TileServiceOptions {
  ContextOptions device;
  AttentionSpec spec;
  HeadLoader loadHead;               // head h of layer l onto the service's device
  uint32_t heads = 1, head = 0;
  std::vector<uint32_t> layers;      // empty: one layer
  uint32_t layer = 0;
  std::vector<std::string> tokens;   // printable, one per position (may be empty)
  std::string title;
  uint32_t sweepTexels = 1024;       // the whole-map sweep's resolution (texels along a side, at most)
  double clientTimeoutSeconds = 10;  // a client silent this long has gone (see lastSeen_)
};

// One tile's values: texel (x, y) of a w x h grid covers cells [col0 + x per, ...) x
// [row0 + y per, ...), clipped to the map. Three float32 per texel: max p, mean p, max logit
// (the logit of the cell when per = 1; -3.4e38 where every cell is masked).
struct TileData {
  TileKey key;
  uint32_t w = 0, h = 0;
  uint64_t col0 = 0, row0 = 0, per = 1;
  std::vector<float> values;  // [h][w][3]
};

enum class TileStatus { Ready, Cancelled, Stale, Stopped, Failed };

struct TileReply {
  TileStatus status = TileStatus::Failed;
  std::shared_ptr<const TileData> tile;
  std::string error;
};

// What a client sees of the service (for /api/info).
struct ServiceInfo {
  AttentionSpec spec;
  uint32_t heads = 1, head = 0, layer = 0;
  std::vector<uint32_t> layers;
  uint32_t coarsestLevel = 0, sweepLevel = 0;
  double sweepProgress = 0;
  bool rowStatsReady = false;
  uint64_t generation = 0;  // bumps when head, layer or parameters change: older tiles are stale
  std::string device, title;
  uint64_t tilesComputed = 0, tilesCached = 0, queued = 0;
};

class TileService {
 public:
  explicit TileService(TileServiceOptions options);
  ~TileService();  // stops the worker and frees the device
  TileService(const TileService&) = delete;
  TileService& operator=(const TileService&) = delete;

  // Blocks until the tile is computed (or cancelled, stale, stopped, or past `deadline`).
  TileReply tile(uint64_t client, const TileKey& key, uint64_t generation,
                 std::chrono::steady_clock::time_point deadline);
  // The client's view in cells (and the level it draws): its requests for tiles outside it,
  // or of levels it no longer draws (other than the coarsest, its stand-in), are cancelled,
  // queued or under way; the rest are ordered by distance from its centre.
  void setView(uint64_t client, const CellRect& view, std::optional<uint32_t> level = std::nullopt);
  // Head, layer or attention parameters (merged into the overrides so far): every tile is
  // stale and the sweep starts again. Returns the new generation. /api/info reports the spec
  // the worker really uses once the head is loaded.
  uint64_t select(uint32_t layer, uint32_t head, const SpecOverrides& change = {});
  ServiceInfo info() const;
  // Row statistics of rows [begin, end) once the sweep is done: (m, l, t) each; empty before.
  std::vector<float> rowStats(uint32_t begin, uint32_t end) const;
  const std::vector<std::string>& tokens() const { return options_.tokens; }
  // The viewer's strips once the sweep is done (empty before): the attention each block of
  // keys receives from all queries per key, and the mean entropy of each block of rows,
  // blocks of 2^sweepLevel cells (compute/map_summaries).
  struct Strips {
    uint64_t block = 0;
    std::vector<double> received, entropy;
    // The colour range `render` would choose for the whole map (viz chooseRange of the sweep):
    // [channel max/mean][lin/log] as (vmin, vmax), so the browser's default matches it.
    double range[2][2][2] = {};
  };
  Strips strips() const;
  void stop();
  // Throws the worker's startup error (no device, a file that cannot be read), if any.
  void waitUntilStarted();

 private:
  struct Request;
  void run();
  std::shared_ptr<Request> nextRequest();  // under mutex_
  void compute(Request& r);
  void sweepPiece();
  void answer(Request& r, std::shared_ptr<const TileData> tile);  // under mutex_

  TileServiceOptions options_;
  mutable std::mutex mutex_;
  std::condition_variable wake_, done_;
  std::deque<std::shared_ptr<Request>> queue_;
  std::shared_ptr<Request> computing_;  // the request the worker is on
  std::map<uint64_t, CellRect> views_;
  // A head or layer change asked for by select(), applied by the worker with overrides_.
  std::optional<std::pair<uint32_t, uint32_t>> pendingSelect_;
  SpecOverrides overrides_;
  // When each client (other than 0, scripts without a view) was last heard from (a view or a
  // tile request): a browser client repeats its view every few seconds, so one silent for
  // clientTimeoutSeconds has gone
  // (cpp-httplib 0.11 does not tell a handler when its socket closes), and its
  // requests, queued or under way, are dropped.
  std::map<uint64_t, std::chrono::steady_clock::time_point> lastSeen_;
  bool gone(uint64_t client) const;  // under mutex_
  std::map<std::pair<uint64_t, uint64_t>, std::shared_ptr<const TileData>> cache_;  // (generation, key) -> tile
  std::deque<std::pair<uint64_t, uint64_t>> cacheOrder_;
  uint64_t generation_ = 1;
  bool stopping_ = false, started_ = false;
  std::string startError_;
  ServiceInfo info_;
  std::vector<float> rowStats_;  // host copy after the sweep: vec4 per row
  // The finished sweep's texels (RGBA32F, sweepW_ x sweepH_, 2^sweepLevel cells each): every
  // tile at the sweep's level or coarser is aggregated from them, exactly, without the device.
  std::vector<float> sweepTexels_;
  uint32_t sweepW_ = 0, sweepH_ = 0;
  Strips strips_;
  std::shared_ptr<const TileData> fromSweep(const TileKey& key) const;  // under mutex_
  std::thread worker_;
  struct Gpu;
  std::unique_ptr<Gpu> gpu_;  // only the worker touches it
};

}  // namespace attnscope
