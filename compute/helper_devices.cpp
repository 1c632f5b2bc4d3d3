#include "compute/helper_devices.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "compute/kernels.h"
#include "engine/context.h"

namespace attnscope {

unsigned helperDevicesFor(const Context& ctx, size_t units) {
  if (ctx.caps().type != VK_PHYSICAL_DEVICE_TYPE_CPU || units < 2) return 0;
  // Injected faults (tests) count this device's calls: helpers would take some of them.
  if (const char* e = std::getenv("ATTNSCOPE_INJECT_VK_ERROR"); e && *e) return 0;
  // Without the cache the helpers' code cannot reach this device: their work would be lost.
  for (const char* off : {"MESA_SHADER_CACHE_DISABLE", "MESA_GLSL_CACHE_DISABLE"})
    if (const char* e = std::getenv(off); e && (std::string(e) == "true" || std::string(e) == "1")) return 0;
  unsigned cores = std::max(1u, std::thread::hardware_concurrency());
  return std::min<unsigned>({cores - 1, unsigned(units) - 1, kMaxHelperDevices});
}

std::vector<int> spreadOverHelperDevices(Context& ctx, Kernels& kernels, size_t count,
                             const std::function<void(Context&, Kernels&, unsigned slot, size_t unit)>& run,
                             const HelperHooks& hooks, const std::function<void(double)>& progress) {
  unsigned helpers = helperDevicesFor(ctx, count);
  std::atomic<size_t> next{0};
  std::mutex mutex;
  std::condition_variable changed;
  size_t done = 0;
  unsigned running = helpers;
  std::vector<int> finishedOn(count, -1);  // each element written by the one thread that ran the unit
  auto finished = [&](bool unitDone, bool helperEnds) {
    {
      std::lock_guard<std::mutex> lock(mutex);
      done += unitDone ? 1 : 0;
      running -= helperEnds ? 1 : 0;
    }
    changed.notify_one();
  };
  ContextOptions options;  // the same device, without a window's extensions
  options.validate = ctx.options().validate;
  options.device = ctx.options().device;
  options.forcePortable = ctx.options().forcePortable;
  options.sharedLoader = true;  // this device's functions stay loaded (made from another thread)
  std::vector<std::thread> threads;
  // However this thread leaves (the progress callback may throw: a closed window), the
  // helpers take no further unit and are joined.
  struct JoinAll {
    std::vector<std::thread>& threads;
    std::atomic<size_t>& next;
    size_t count;
    ~JoinAll() {
      next = count;
      for (std::thread& t : threads)
        if (t.joinable()) t.join();
    }
  } joinAll{threads, next, count};
  for (unsigned h = 1; h <= helpers; ++h)
    threads.emplace_back([&, h] {
      try {
        Context helperCtx(options);
        Kernels helperKernels(helperCtx, kernels.compiler());
        struct End {  // before the helper's kernels and device go, however the units end
          const HelperHooks& hooks;
          unsigned slot;
          ~End() {
            if (!hooks.end) return;
            try {
              hooks.end(slot);
            } catch (...) {
            }
          }
        } end{hooks, h};
        if (hooks.begin) hooks.begin(helperKernels);
        for (size_t i = next++; i < count; i = next++) {
          run(helperCtx, helperKernels, h, i);
          finishedOn[i] = int(h);
          finished(true, false);
        }
      } catch (...) {
        // Left to this device (see the header).
      }
      finished(false, true);
    });
  auto report = [&](bool waitForHelpers) {
    size_t d;
    bool end;
    {
      std::unique_lock<std::mutex> lock(mutex);
      // A wake-up at least every 100 ms: the progress callback may keep a window alive.
      if (waitForHelpers && running > 0) changed.wait_for(lock, std::chrono::milliseconds(100));
      d = done;
      end = running == 0;
    }
    if (progress) progress(std::min(1.0, double(d) / count));
    return end;
  };
  // This device takes units too; the progress is reported from here, as units finish on any.
  for (size_t i = next++; i < count; i = next++) {
    run(ctx, kernels, 0, i);  // an error here leaves through JoinAll
    finishedOn[i] = 0;
    finished(true, false);
    report(false);
  }
  while (!report(true)) {
  }
  for (std::thread& t : threads) t.join();  // (all have ended) their writes to finishedOn are seen
  return finishedOn;
}

}  // namespace attnscope
