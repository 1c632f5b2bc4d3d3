// A command buffer with its fence, descriptor arena and GPU timestamps: what a caller
// (app, bench, test, viewer) uses to record passes and decide when to submit. Passes
// themselves only record into the command buffer they are given.
#pragma once
#include <volk.h>

#include <map>
#include <string>
#include <vector>

#include "engine/compute_pipeline.h"
#include "engine/fenced_commands.h"

namespace attnscope {

class Context;

// Timestamps around passes; read after the submission that wrote them has finished.
class GpuTimer {
 public:
  GpuTimer(Context& ctx, uint32_t capacity = 512);
  ~GpuTimer();
  GpuTimer(const GpuTimer&) = delete;
  GpuTimer& operator=(const GpuTimer&) = delete;

  void reset(VkCommandBuffer cmd);
  // Returns a token for end(); does nothing on devices without timestamps.
  int begin(VkCommandBuffer cmd);
  void end(VkCommandBuffer cmd, int token, const std::string& label);
  // Adds this submission's times (ms) to the running totals.
  void collect();
  const std::map<std::string, double>& totalsMs() const { return totals_; }
  void clearTotals() { totals_.clear(); }
  bool enabled() const { return pool_ != VK_NULL_HANDLE; }

 private:
  Context& ctx_;
  VkQueryPool pool_ = VK_NULL_HANDLE;
  uint32_t capacity_ = 0, used_ = 0;
  std::vector<std::pair<std::string, uint32_t>> pending_;
  std::map<std::string, double> totals_;
};

// What a pass records into.
struct Recording {
  Context& ctx;
  VkCommandBuffer cmd;
  DescriptorArena& arena;
  GpuTimer* timer = nullptr;
};

// Scoped timestamp pair around a pass.
class TimedScope {
 public:
  TimedScope(Recording& rec, std::string label)
      : rec_(rec), label_(std::move(label)), token_(rec.timer ? rec.timer->begin(rec.cmd) : -1) {}
  ~TimedScope() {
    if (rec_.timer) rec_.timer->end(rec_.cmd, token_, label_);
  }

 private:
  Recording& rec_;
  std::string label_;
  int token_;
};

class CommandStream {
 public:
  explicit CommandStream(Context& ctx, bool timestamps = true);
  CommandStream(const CommandStream&) = delete;
  CommandStream& operator=(const CommandStream&) = delete;

  // Starts recording; the arena and timer are reset, so the previous submission must have
  // been waited for (submitAndWait does that).
  Recording begin();
  void submitAndWait();
  GpuTimer& timer() { return timer_; }
  Context& context() { return ctx_; }

 private:
  Context& ctx_;
  FencedCommands commands_;
  DescriptorArena arena_;
  GpuTimer timer_;
  bool timestamps_;
};

}  // namespace attnscope
