#include "engine/commands.h"

#include "engine/context.h"
#include "engine/vk_check.h"

namespace attnscope {

GpuTimer::GpuTimer(Context& ctx, uint32_t capacity) : ctx_(ctx), capacity_(capacity) {
  if (!ctx.caps().timestamps) return;
  VkQueryPoolCreateInfo ci{VK_STRUCTURE_TYPE_QUERY_POOL_CREATE_INFO};
  ci.queryType = VK_QUERY_TYPE_TIMESTAMP;
  ci.queryCount = capacity;
  VK_CHECK(vkCreateQueryPool(ctx.device(), &ci, nullptr, &pool_));
}

GpuTimer::~GpuTimer() {
  if (pool_) vkDestroyQueryPool(ctx_.device(), pool_, nullptr);
}

void GpuTimer::reset(VkCommandBuffer cmd) {
  used_ = 0;
  pending_.clear();
  if (pool_) vkCmdResetQueryPool(cmd, pool_, 0, capacity_);
}

int GpuTimer::begin(VkCommandBuffer cmd) {
  if (!pool_ || used_ + 2 > capacity_) return -1;
  uint32_t q = used_;
  used_ += 2;
  vkCmdWriteTimestamp(cmd, VK_PIPELINE_STAGE_TOP_OF_PIPE_BIT, pool_, q);
  return int(q);
}

void GpuTimer::end(VkCommandBuffer cmd, int token, const std::string& label) {
  if (!pool_ || token < 0) return;
  vkCmdWriteTimestamp(cmd, VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT, pool_, uint32_t(token) + 1);
  pending_.push_back({label, uint32_t(token)});
}

void GpuTimer::collect() {
  if (!pool_ || used_ == 0) return;
  std::vector<uint64_t> stamps(used_);
  VK_CHECK(vkGetQueryPoolResults(ctx_.device(), pool_, 0, used_, stamps.size() * 8, stamps.data(),
                                 8, VK_QUERY_RESULT_64_BIT | VK_QUERY_RESULT_WAIT_BIT));
  double period = ctx_.caps().limits.timestampPeriod;  // ns per tick
  for (auto& [label, q] : pending_)
    totals_[label] += double(stamps[q + 1] - stamps[q]) * period * 1e-6;
  pending_.clear();
  used_ = 0;
}

CommandStream::CommandStream(Context& ctx, bool timestamps)
    : ctx_(ctx), commands_(ctx.device(), ctx.queueFamily()), arena_(ctx), timer_(ctx),
      timestamps_(timestamps && timer_.enabled()) {}

Recording CommandStream::begin() {
  arena_.reset();
  commands_.begin();
  if (timestamps_) timer_.reset(commands_.cmd());
  return Recording{ctx_, commands_.cmd(), arena_, timestamps_ ? &timer_ : nullptr};
}

void CommandStream::submitAndWait() {
  commands_.submit(ctx_.queue());
  commands_.wait();
  if (timestamps_) timer_.collect();
}

}  // namespace attnscope
