#include "compute/small_attention.h"

#include <limits>

#include "compute/attn_output_pass.h"
#include "compute/head_data.h"
#include "compute/map_job.h"
#include "engine/commands.h"
#include "engine/error.h"

namespace attnscope {

SmallAttention computeSmallAttention(Context& ctx, Kernels& kernels, const AttentionSpec& spec,
                                     const std::vector<float>& q, const std::vector<float>& k,
                                     const std::vector<float>& v) {
  spec.validate();
  size_t want = size_t(spec.n) * spec.d;
  if (q.size() != want || k.size() != want || (!v.empty() && v.size() != want))
    throw Error("internal: small attention inputs are not [n, d]");
  if (spec.n > 4096) throw Error("internal: small attention is for n up to 4096");
  HeadData head = HeadData::fromHost(ctx, spec.n, spec.d, q.data(), k.data(), v.empty() ? nullptr : v.data());
  MapJob job(ctx, kernels, head, spec, {0, spec.n, 0, spec.n}, spec.n, spec.n);
  runMapJob(ctx, job);
  std::vector<float> texels = readbackImage(ctx, job.image());
  SmallAttention r;
  r.n = spec.n;
  r.d = spec.d;
  r.logits.resize(size_t(spec.n) * spec.n);
  r.probs.resize(r.logits.size());
  for (size_t c = 0; c < r.logits.size(); ++c) {
    float l = texels[c * 4 + kChannelLogit];
    r.logits[c] = l < -1e38f ? -std::numeric_limits<float>::infinity() : l;
    r.probs[c] = texels[c * 4 + kChannelMean];
  }
  if (!v.empty()) r.out = computeAttentionOutput(ctx, kernels, head, spec, 0, spec.n);
  return r;
}

}  // namespace attnscope
