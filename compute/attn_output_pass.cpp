#include "compute/attn_output_pass.h"

#include <algorithm>

#include "compute/gpu_params.h"
#include "compute/kernels.h"
#include "engine/barriers.h"
#include "engine/context.h"
#include "engine/error.h"

namespace attnscope {

AttnOutputPass::AttnOutputPass(Context& ctx, Kernels& kernels, uint32_t n, uint32_t maxRows, uint32_t dp)
    : kernels_(kernels), rowStats_(ctx, kernels, n, maxRows, dp) {}

void AttnOutputPass::record(Recording& rec, const HeadData& head, const AttentionSpec& spec,
                            uint32_t rowBegin, uint32_t rowEnd, const Buffer& stats,
                            const Buffer& out) {
  if (!head.hasV()) throw Error("the attention output needs V, and this input has none");
  rowStats_.record(rec, head, spec, rowBegin, rowEnd, stats, rowBegin);
  TimedScope timed(rec, "attn_output");
  uint32_t dp = head.dp();
  bool first = true;
  for (const KeyChunk& chunk : head.chunks(0, spec.n)) {
    // Chunks add into the same output rows: read-after-write between them.
    if (!first) barrier::computeToCompute(rec.cmd);
    BufferWindow kw = makeWindow(rec.ctx, head.k(), uint64_t(chunk.begin) * dp * 4, uint64_t(chunk.end) * dp * 4);
    BufferWindow vw = makeWindow(rec.ctx, head.v(), uint64_t(chunk.begin) * dp * 4, uint64_t(chunk.end) * dp * 4);
    // One workgroup per row, and group counts are limited (65535 is the guaranteed minimum).
    uint32_t maxGroups = rec.ctx.caps().limits.maxComputeWorkGroupCount[0];
    for (uint32_t r0 = rowBegin; r0 < rowEnd; r0 += maxGroups) {
      uint32_t r1 = uint32_t(std::min<uint64_t>(uint64_t(r0) + maxGroups, rowEnd));
      BufferWindow qw = makeWindow(rec.ctx, head.q(), uint64_t(r0) * dp * 4, uint64_t(r1) * dp * 4);
      gpu::AttnOutputParams p{};
      p.rowBegin = r0;
      p.rowCount = r1 - r0;
      p.qSkip = qw.elementSkip;
      p.kCol0 = chunk.begin;
      p.kSkip = kw.elementSkip;
      p.vSkip = vw.elementSkip;
      p.colBegin = chunk.begin;
      p.colEnd = chunk.end;
      p.statsRow0 = rowBegin;
      p.accumulate = first ? 0 : 1;
      p.maskKind = uint32_t(spec.mask);
      p.window = spec.window;
      p.n = spec.n;
      p.logitScale = float(spec.logitScale());
      p.queryBegin = spec.queryBegin;
      p.softcap = float(spec.softcap.value_or(0.0));
      p.capScale = float(1.0 / spec.temperature);
      dispatch(rec.ctx, rec.cmd, rec.arena, kernels_.attnOutput(dp, spec.softcap.has_value()),
               {Binding::storage(qw), Binding::storage(kw), Binding::storage(vw),
                Binding::storage(stats), Binding::storage(out)},
               p, Groups{p.rowCount});  // one workgroup per row
    }
    first = false;
  }
  // The output is complete before it is copied out or read by a later pass.
  barrier::computeToCompute(rec.cmd);
  barrier::computeToTransfer(rec.cmd);
}

std::vector<float> computeAttentionOutput(Context& ctx, Kernels& kernels, const HeadData& head,
                                          const AttentionSpec& spec, uint32_t rowBegin,
                                          uint32_t rowEnd) {
  if (rowEnd <= rowBegin || rowEnd > spec.n)
    throw Error("output rows [" + std::to_string(rowBegin) + ", " + std::to_string(rowEnd) +
                ") are outside the " + std::to_string(spec.n) + " tokens");
  uint32_t rows = rowEnd - rowBegin, dp = head.dp(), d = head.d();
  Buffer stats(ctx, uint64_t(rows) * kStatsBytes, VK_BUFFER_USAGE_STORAGE_BUFFER_BIT, MemoryUse::DeviceLocal, "output stats");
  Buffer out(ctx, uint64_t(rows) * dp * 4, VK_BUFFER_USAGE_STORAGE_BUFFER_BIT, MemoryUse::DeviceLocal, "attention output");
  AttnOutputPass pass(ctx, kernels, spec.n, rows, dp);
  CommandStream stream(ctx, false);
  Recording rec = stream.begin();
  pass.record(rec, head, spec, rowBegin, rowEnd, stats, out);
  stream.submitAndWait();
  std::vector<float> padded(size_t(rows) * dp), result(size_t(rows) * d);
  out.download(padded.data(), padded.size() * 4);
  for (uint32_t r = 0; r < rows; ++r)
    for (uint32_t c = 0; c < d; ++c) result[size_t(r) * d + c] = padded[size_t(r) * dp + c];
  return result;
}

}  // namespace attnscope
