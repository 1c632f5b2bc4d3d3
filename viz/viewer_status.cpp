#include "viz/viewer_status.h"

#include <cstdio>

#include "engine/context.h"
#include "engine/device_memory.h"
#include "viz/figure.h"

namespace attnscope {

std::string viewTitle(const std::string& title, const HeadViews& views) {
  const AttentionSpec& sp = views.spec();
  std::string t = title;
  if (views.layers().size() > 1) t += "  layer " + std::to_string(views.layer());
  if (views.heads() > 1) t += "  head " + std::to_string(views.head()) + " of " + std::to_string(views.heads());
  t += std::string("  |  ") + maskName(sp.mask);
  if (sp.mask == MaskKind::WindowCausal || sp.mask == MaskKind::WindowBoth) t += " W=" + std::to_string(sp.window);
  if (sp.softcap) t += "  cap " + formatValue(*sp.softcap);
  t += "  T=" + formatValue(sp.temperature);
  if (views.pending()) {
    t += "  |  reading ";
    if (views.targetLayer() != views.layer()) t += "layer " + std::to_string(views.targetLayer()) + " ";
    t += "head " + std::to_string(views.targetHead()) + "...";
  }
  return t;
}

std::string statusLine(const HeadViews& views, const std::map<std::string, double>& gpuMs, const std::string& hover) {
  const TileView& tiles = views.tiles();
  double n = double(views.spec().n);
  auto ms = [&](const char* k) { return gpuMs.count(k) ? gpuMs.at(k) : 0.0; };
  char buf[512];
  std::snprintf(buf, sizeof buf,
                "n %.0f: %.3g cells, %.3g GB as dense float32 | %.3g GFLOP so far | GPU %.1f ms compute, %.1f ms draw | "
                "%zu tiles | sweep %.0f%%%s%s",
                n, n * n, n * n * 4 / 1e9, tiles.flopsDone() / 1e9, ms("compute"), ms("draw"), tiles.tilesCached(),
                tiles.sweepProgress() * 100, hover.empty() ? "" : "  |  ", hover.c_str());
  return buf;
}

nlohmann::json viewStats(Context& ctx, const HeadViews& views, uint64_t cacheBudgetBytes) {
  const AttentionSpec& sp = views.spec();
  const TileView& tiles = views.tiles();
  nlohmann::json s;
  s["device"] = ctx.caps().name;
  s["n"] = sp.n;
  s["d"] = sp.d;
  s["tiles_cached"] = tiles.tilesCached();
  s["cache_bytes"] = tiles.cacheBytes();
  s["cache_budget_bytes"] = cacheBudgetBytes;
  s["view_device_bytes"] = tiles.deviceBytes();
  s["device_bytes_in_use"] = ctx.allocator().bytesInUse();
  s["device_allocations"] = ctx.allocator().allocationCount();
  s["head"] = views.head();
  s["layer"] = views.layer();
  s["mask"] = maskName(sp.mask);
  s["mask_window"] = sp.window;
  s["softcap"] = sp.softcap ? *sp.softcap : 0.0;
  s["grid"] = views.grid();
  s["flops"] = tiles.flopsDone();
  return s;
}

}  // namespace attnscope
