#include "compute/gpu_session.h"

namespace attnscope {

GpuSession::GpuSession(const ContextOptions& options)
    : ctx(std::make_unique<Context>(options)),
      compiler(std::make_unique<ShaderCompiler>()),
      kernels(std::make_unique<Kernels>(*ctx, *compiler)),
      tuner(std::make_unique<KernelTuner>(*ctx, *kernels)) {}

TuneReport GpuSession::prepareKernels(uint32_t dp, const std::function<void(double)>& progress) {
  // Chosen earlier in this session; a variant forced by ATTNSCOPE_KERNEL goes to the tuner,
  // whose report says it was forced (bench printed "forced": false for it).
  if (kernels->hasChoice(dp) && !kernels->forcedByEnvironment()) {
    TuneReport r;
    r.dp = dp;
    for (int i = 0; i < kBlockShapes; ++i) r.chosen[i] = kernels->blockStatsVariant(dp, BlockShape(i));
    r.fromCache = true;
    return r;
  }
  return tuner->prepare(dp, false, progress);
}

GpuSession::~GpuSession() {
  // Kernels hold pipelines made on the context: they go first.
  tuner.reset();
  kernels.reset();
  compiler.reset();
  ctx.reset();
}

}  // namespace attnscope
