#include "compute/rope.h"

#include <cmath>
#include <vector>

#include "compute/gpu_params.h"
#include "compute/kernels.h"
#include "engine/barriers.h"
#include "engine/commands.h"
#include "engine/context.h"
#include "engine/error.h"

namespace attnscope {

uint64_t rotaryTurns(double base, uint32_t dims, uint32_t c) {
  double w = std::pow(base, -2.0 * c / dims);
  double turns = w / (2.0 * M_PI);
  turns -= std::floor(turns);  // only the fraction of a turn matters
  double fixed = std::ldexp(turns, 64);
  return fixed >= 18446744073709549568.0 ? ~uint64_t(0) : uint64_t(fixed);  // never round up to 2^64
}

void applyRope(Context& ctx, Kernels& kernels, HeadData& head, const RopeSpec& spec) {
  uint32_t dims = spec.dims ? spec.dims : head.d() / 2 * 2;
  if (dims < 2 || dims % 2 || dims > head.d())
    throw Error("rotary dimensions must be even and between 2 and d = " + std::to_string(head.d()) + " (got " +
                std::to_string(dims) + ")");
  if (!(spec.base > 1.0) || !std::isfinite(spec.base))
    throw Error("the rotary base must be a number above 1 (got " + std::to_string(spec.base) + ")");
  uint32_t pairs = dims / 2;
  std::vector<uint32_t> words(size_t(pairs) * 2);
  for (uint32_t c = 0; c < pairs; ++c) {
    uint64_t t = rotaryTurns(spec.base, dims, c);
    words[2 * c] = uint32_t(t);
    words[2 * c + 1] = uint32_t(t >> 32);
  }
  Buffer turns(ctx, words.size() * 4, VK_BUFFER_USAGE_STORAGE_BUFFER_BIT, MemoryUse::DeviceLocal, "rope turns");
  turns.upload(words.data(), words.size() * 4);
  const ComputePipeline& pipe = kernels.rope();
  uint32_t maxGroups = ctx.caps().limits.maxComputeWorkGroupCount[0];
  uint32_t rowsPerDispatch = std::max(1u, uint32_t(std::min<uint64_t>(uint64_t(maxGroups) * 64 / pairs, head.rowsPerWindow())));
  CommandStream stream(ctx, false);
  Recording rec = stream.begin();
  for (Buffer* buf : {&head.q(), &head.k()})
    for (uint32_t r0 = 0; r0 < head.n(); r0 += rowsPerDispatch) {
      uint32_t r1 = std::min(head.n(), r0 + rowsPerDispatch);
      BufferWindow w = makeWindow(ctx, *buf, uint64_t(r0) * head.dp() * 4, uint64_t(r1) * head.dp() * 4);
      gpu::RopeParams p{r0, r1 - r0, head.dp(), pairs, spec.halves ? 1u : 0u, w.elementSkip, 0, 0};
      dispatch(ctx, rec.cmd, rec.arena, pipe, {Binding::storage(turns), Binding::storage(w)}, p,
               Items{uint64_t(r1 - r0) * pairs});
    }
  // The rotated rows are written before any pass reads Q and K.
  barrier::computeToCompute(rec.cmd);
  stream.submitAndWait();
}

}  // namespace attnscope
