// The GPU objects every front end needs: the device context, the shader compiler and the
// compiled kernels, made in that order and destroyed in the reverse. The command line, the
// viewer, the lesson window and the tests each hold one instead of wiring the three by hand.
#pragma once
#include <memory>

#include "compute/kernels.h"
#include "engine/context.h"
#include "engine/shader_compiler.h"

namespace attnscope {

struct GpuSession {
  explicit GpuSession(const ContextOptions& options);
  ~GpuSession();
  GpuSession(GpuSession&&) noexcept = default;
  GpuSession& operator=(GpuSession&&) noexcept = default;

  std::unique_ptr<Context> ctx;
  std::unique_ptr<ShaderCompiler> compiler;
  std::unique_ptr<Kernels> kernels;
};

}  // namespace attnscope
