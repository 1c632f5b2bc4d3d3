#include "compute/gpu_session.h"

namespace attnscope {

GpuSession::GpuSession(const ContextOptions& options)
    : ctx(std::make_unique<Context>(options)),
      compiler(std::make_unique<ShaderCompiler>()),
      kernels(std::make_unique<Kernels>(*ctx, *compiler)) {}

GpuSession::~GpuSession() {
  // Kernels hold pipelines made on the context: they go first.
  kernels.reset();
  compiler.reset();
  ctx.reset();
}

}  // namespace attnscope
