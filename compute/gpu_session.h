// The GPU objects every front end needs: the device context, the shader compiler and the
// compiled kernels, made in that order and destroyed in the reverse. The command line, the
// viewer, the lesson window and the tests each hold one instead of wiring the three by hand.
#pragma once
#include <memory>

#include "compute/kernel_tuner.h"
#include "compute/kernels.h"
#include "engine/context.h"
#include "engine/shader_compiler.h"

namespace attnscope {

struct GpuSession {
  explicit GpuSession(const ContextOptions& options);
  ~GpuSession();
  GpuSession(GpuSession&&) noexcept = default;
  GpuSession& operator=(GpuSession&&) noexcept = default;

  // Makes the kernels for head dimension dp the tuned ones: read from the tuning cache, else
  // timed now (once per device, driver and d; a line on stderr says so). Idempotent.
  TuneReport prepareKernels(uint32_t dp, const std::function<void(double)>& progress = {});

  std::unique_ptr<Context> ctx;
  std::unique_ptr<ShaderCompiler> compiler;
  std::unique_ptr<Kernels> kernels;
  std::unique_ptr<KernelTuner> tuner;
};

}  // namespace attnscope
