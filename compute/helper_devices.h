// A CPU device (lavapipe) makes each pipeline's machine code at its first dispatch, one after
// another on the device's queue thread, and keeps it in Mesa's shader cache for any device
// of the process or a later one. Work that exists to make that code (the tuner's first
// runs, the viewer's warm-ups) goes faster spread over this device and helper devices, each
// its own instance, device and queue thread, at once; this device's own first dispatches
// then find the helpers' code in the cache.
#pragma once
#include <cstddef>
#include <functional>
#include <vector>

namespace attnscope {

class Context;
class Kernels;

// At most this many helpers, whatever the cores: each holds an LLVM compile's memory.
constexpr unsigned kMaxHelperDevices = 3;

// How many helper devices spreadOverHelperDevices() would make for `units` units: none
// unless the device is a CPU, Mesa's shader cache is on, no Vulkan faults are injected
// (ATTNSCOPE_INJECT_VK_ERROR) and the machine has a core to spare;
// at most one per further core, 3 in all, and fewer than the units.
unsigned helperDevicesFor(const Context& ctx, size_t units);

// Runs units 0..count-1, each once, on this device (slot 0) and helper devices (slots 1 and
// up: the same physical device, validated as this one is) at the same time, whichever is
// free taking the next unit: list the costliest first. An error on this device propagates
// (once the helpers have stopped); a helper that fails stops, silently, leaving its unit
// undone: the caller runs what it still needs on this device afterwards, where errors are
// reported. Returns, per unit, the slot that finished it (-1: none). `progress` follows the
// units done (called on this thread).
struct HelperHooks {
  std::function<void(Kernels& helper)> begin;  // before its first unit (the caller's tuned choices, say)
  std::function<void(unsigned slot)> end;      // after its last, before its device goes (free what it made there)
};
std::vector<int> spreadOverHelperDevices(Context& ctx, Kernels& kernels, size_t count,
                             const std::function<void(Context&, Kernels&, unsigned slot, size_t unit)>& run,
                             const HelperHooks& hooks = {}, const std::function<void(double)>& progress = {});

}  // namespace attnscope
