// The tile pyramid: level l has texels of 2^l x 2^l cells and tiles of kTileTexels^2
// texels; the coarsest level holds the whole map in one tile. Which tiles a view needs,
// which coarser tile stands in while a finer one is computed, and an LRU cache of tiles
// under a byte budget whose entries become stale (never shown) when a parameter changes.
#pragma once
#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <unordered_map>
#include <vector>

#include "compute/map_job.h"
#include "viz/camera.h"

namespace attnscope {

constexpr uint32_t kTileTexels = 256;

struct TileKey {
  uint32_t level = 0, tx = 0, ty = 0;
  bool operator==(const TileKey& o) const { return level == o.level && tx == o.tx && ty == o.ty; }
};

struct TileKeyHash {
  size_t operator()(const TileKey& k) const {
    return (size_t(k.level) << 56) ^ (size_t(k.ty) << 28) ^ size_t(k.tx);
  }
};

// Smallest level whose single tile covers n cells.
uint32_t coarsestLevel(uint64_t n);
// The level whose texels are as close as possible to one screen pixel without being
// coarser than it: the finest detail a view can show.
uint32_t levelForZoom(double cellsPerPixel, uint32_t coarsest);
uint64_t tileCells(uint32_t level);  // cells along a tile side
// The cells a tile covers (clipped to the map) and its texel size.
MapRegion tileRegion(const TileKey& key, uint64_t n);
uint32_t tileTexelsX(const TileKey& key, uint64_t n);
uint32_t tileTexelsY(const TileKey& key, uint64_t n);
// Tiles of `level` that intersect the visible rectangle, nearest the centre first.
std::vector<TileKey> visibleTiles(const CellRect& view, uint32_t level, uint64_t n);
TileKey parentOf(const TileKey& key);

// An LRU cache of computed tiles. Payload is what the viewer keeps per tile (a GPU image);
// tests use plain values.
template <class Payload>
class TileCache {
 public:
  explicit TileCache(uint64_t budgetBytes) : budget_(budgetBytes) {}

  // A ready tile of the current generation, marked as used now; null if none.
  Payload* find(const TileKey& key) {
    auto it = index_.find(key);
    if (it == index_.end() || it->second->generation != generation_) return nullptr;
    entries_.splice(entries_.begin(), entries_, it->second);  // most recently used first
    return &it->second->payload;
  }
  bool contains(const TileKey& key) const {
    auto it = index_.find(key);
    return it != index_.end() && it->second->generation == generation_;
  }
  // Stores a tile computed for `generation` (ignored if the parameters changed since).
  // Evicts least recently used tiles until the cache fits its budget again, never the one
  // just inserted nor those marked as pinned (visible this frame).
  void insert(const TileKey& key, Payload payload, uint64_t bytes, uint64_t generation,
              const std::function<bool(const TileKey&)>& pinned = {}) {
    if (generation != generation_) return;
    erase(key);
    entries_.push_front(Entry{key, std::move(payload), bytes, generation});
    index_[key] = entries_.begin();
    used_ += bytes;
    evict(pinned);
  }
  // Frees least recently used tiles (stale ones first, then any, pinned or not) until at
  // least `bytes` are freed or the cache is empty; returns what was freed. For when the
  // device runs out of memory.
  uint64_t freeAtLeast(uint64_t bytes) {
    uint64_t freed = 0;
    for (bool staleOnly : {true, false}) {
      auto it = entries_.end();
      while (freed < bytes && it != entries_.begin()) {
        --it;  // towards the most recently used
        if (staleOnly && it->generation == generation_) continue;
        freed += it->bytes;
        used_ -= it->bytes;
        index_.erase(it->key);
        it = entries_.erase(it);
      }
    }
    return freed;
  }
  // Parameters changed (head, mask, scale, temperature...): every tile becomes stale at
  // once; stale tiles are never returned and are freed as space is needed.
  void invalidate() { ++generation_; }
  uint64_t generation() const { return generation_; }
  uint64_t bytesUsed() const { return used_; }
  size_t size() const { return entries_.size(); }
  void setBudget(uint64_t bytes) { budget_ = bytes; }

  // The nearest ancestor (or the tile itself) that is ready: what to draw, scaled, until
  // the tile itself is ready. Null when no ancestor is cached.
  const TileKey* readyAncestor(TileKey key, uint32_t coarsest, TileKey& out) {
    for (;;) {
      if (find(key)) {
        out = key;
        return &out;
      }
      if (key.level >= coarsest) return nullptr;
      key = parentOf(key);
    }
  }

 private:
  struct Entry {
    TileKey key;
    Payload payload;
    uint64_t bytes;
    uint64_t generation;
  };
  void erase(const TileKey& key) {
    auto it = index_.find(key);
    if (it == index_.end()) return;
    used_ -= it->second->bytes;
    entries_.erase(it->second);
    index_.erase(it);
  }
  void evict(const std::function<bool(const TileKey&)>& pinned) {
    // Stale entries go first, then the least recently used.
    for (auto it = entries_.begin(); it != entries_.end() && used_ > budget_;) {
      if (it->generation != generation_) {
        used_ -= it->bytes;
        index_.erase(it->key);
        it = entries_.erase(it);
      } else {
        ++it;
      }
    }
    auto it = entries_.end();
    while (used_ > budget_ && it != entries_.begin()) {
      --it;
      if (it == entries_.begin()) break;  // never the newest
      if (pinned && pinned(it->key)) continue;
      used_ -= it->bytes;
      index_.erase(it->key);
      it = entries_.erase(it);
    }
  }
  uint64_t budget_;
  uint64_t used_ = 0;
  uint64_t generation_ = 0;
  std::list<Entry> entries_;
  std::unordered_map<TileKey, typename std::list<Entry>::iterator, TileKeyHash> index_;
};

}  // namespace attnscope
