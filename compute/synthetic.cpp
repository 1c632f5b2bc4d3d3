#include "compute/synthetic.h"

#include <algorithm>
#include <cmath>

#include "compute/attention_spec.h"
#include "compute/gpu_params.h"
#include "compute/kernels.h"
#include "engine/barriers.h"
#include "engine/commands.h"
#include "engine/context.h"
#include "engine/error.h"
#include "shaders/include/hash.h"

namespace attnscope {

Preset parsePreset(const std::string& name) {
  if (name == "local" || name == "band" || name == "previous-token") return Preset::Local;
  if (name == "sink" || name == "first-token") return Preset::Sink;
  if (name == "broad" || name == "uniform") return Preset::Broad;
  if (name == "mixed" || name == "realistic") return Preset::Mixed;
  throw Error("unknown preset '" + name + "': use local, sink, broad or mixed");
}

const char* presetName(Preset p) {
  switch (p) {
    case Preset::Local: return "local";
    case Preset::Sink: return "sink";
    case Preset::Broad: return "broad";
    case Preset::Mixed: return "mixed";
  }
  return "?";
}

std::vector<std::string> presetNames() { return {"local", "sink", "broad", "mixed"}; }

void SyntheticSpec::validate() const {
  validateHeadShape(n, d);
  if (heads == 0) throw Error("the number of heads must be at least 1 (got 0)");
  if (head >= heads)
    throw Error("head " + std::to_string(head) + " does not exist: heads are numbered 0 to " +
                std::to_string(heads - 1));
  if (dModel < 2 || dModel % 2 || dModel > 4096)
    throw Error("the model width must be even and between 2 and 4096 (got " +
                std::to_string(dModel) + ")");
  if (vocab == 0) throw Error("the vocabulary must hold at least one token");
}

float embeddingScale() { return 0.5f * std::sqrt(3.0f); }  // entries with std 0.5

std::vector<uint64_t> positionalTurns(uint32_t dModel) {
  std::vector<uint64_t> t(dModel / 2);
  for (uint32_t k = 0; k < dModel / 2; ++k) {
    double w = std::pow(10000.0, -2.0 * k / dModel);
    double turns = w / (2.0 * M_PI);  // < 1 for every k
    t[k] = uint64_t(std::ldexp(turns, 64) >= 18446744073709551615.0 ? ~0ull
                                                                     : uint64_t(std::ldexp(turns, 64)));
  }
  return t;
}

namespace {

// Entries with variance 1/rows, so X W keeps unit-scale inputs at unit scale.
void addNoise(std::vector<float>& w, uint32_t rows, uint32_t d, uint32_t dp, float amp,
              uint32_t seed, uint32_t stream) {
  float s = amp * std::sqrt(3.0f / float(rows));
  for (uint32_t r = 0; r < rows; ++r)
    for (uint32_t c = 0; c < d; ++c)
      w[size_t(r) * dp + c] += s * gpu::hashUnit(gpu::hash3(seed, stream, r * 4099u + c));
}

// Relative position through PE: q_i = gain * PE(i - shift) and k_j = PE(j) on the chosen
// frequency pairs, so q_i . k_j = gain * sum_p cos(w_p (i - shift - j)), which peaks at
// j = i - shift and decays with distance.
void addBand(HeadWeights& h, uint32_t columns, float gain, int shift) {
  uint32_t pairs = std::min(columns / 2, h.dModel / 2);
  uint32_t freqs = h.dModel / 2;
  for (uint32_t p = 0; p < pairs; ++p) {
    uint32_t k = pairs > 1 ? uint32_t(std::lround(double(p) * (freqs - 1) / (pairs - 1))) : 0;
    double w = std::pow(10000.0, -2.0 * k / h.dModel);
    float c = float(std::cos(w * shift)), s = float(std::sin(w * shift));
    size_t rs = size_t(2 * k) * h.dp, rc = size_t(2 * k + 1) * h.dp;
    uint32_t a = 2 * p, b = 2 * p + 1;
    h.wk[rs + a] += 1.0f;
    h.wk[rc + b] += 1.0f;
    // (sin(wi - ws), cos(wi - ws)) from (sin wi, cos wi): a rotation by -w*shift.
    h.wq[rs + a] += gain * c;
    h.wq[rc + a] += -gain * s;
    h.wq[rs + b] += gain * s;
    h.wq[rc + b] += gain * c;
  }
}

// A first-token sink on head column `col`: every query carries a constant on it (bias) and
// only the BOS key's embedding projects onto it.
void addSink(HeadWeights& h, uint32_t col, float strength, uint32_t seed) {
  std::vector<double> bos(h.dModel);
  double norm2 = 0;
  uint32_t th = gpu::hash2(seed, 0u);  // token 0 is BOS
  for (uint32_t m = 0; m < h.dModel; ++m) {
    bos[m] = double(embeddingScale()) * gpu::hashUnit(gpu::hash2(th, m));
    norm2 += bos[m] * bos[m];
  }
  h.bq[col] += strength;
  for (uint32_t m = 0; m < h.dModel; ++m) h.wk[size_t(m) * h.dp + col] += float(bos[m] / norm2);
}

}  // namespace

HeadWeights makeHeadWeights(const SyntheticSpec& spec, uint32_t head) {
  HeadWeights h;
  h.dModel = spec.dModel;
  h.d = spec.d;
  h.dp = paddedDim(spec.d);
  size_t size = size_t(h.dModel) * h.dp;
  h.wq.assign(size, 0.0f);
  h.wk.assign(size, 0.0f);
  h.wv.assign(size, 0.0f);
  h.bq.assign(h.dp, 0.0f);
  h.bk.assign(h.dp, 0.0f);
  h.bv.assign(h.dp, 0.0f);
  uint32_t seed = gpu::hash2(spec.seed, head + 1u);
  const float sqrtD = std::sqrt(float(spec.d));
  uint32_t d = spec.d;
  // Logit gaps in units of the default scale 1/sqrt(d), so patterns hold at any d.
  auto band = [&](float gap, int shift, uint32_t cols) { addBand(h, cols, gap * 2.0f / sqrtD, shift); };
  auto sink = [&](float gap) { addSink(h, d - 1, gap * sqrtD, spec.seed); };
  uint32_t bandCols = d > 1 ? d - 1 : 0;  // the last column is reserved for the sink

  Preset p = spec.preset;
  uint32_t variant = head % 4;
  if (p == Preset::Local) {
    band(9.0f, 1, bandCols);
    addNoise(h.wq, h.dModel, d, h.dp, 0.3f, seed, 1);
    addNoise(h.wk, h.dModel, d, h.dp, 0.3f, seed, 2);
  } else if (p == Preset::Sink) {
    sink(12.0f);
    addNoise(h.wq, h.dModel, d, h.dp, 0.5f, seed, 1);
    addNoise(h.wk, h.dModel, d, h.dp, 0.5f, seed, 2);
  } else if (p == Preset::Broad) {
    addNoise(h.wq, h.dModel, d, h.dp, 0.15f, seed, 1);
    addNoise(h.wk, h.dModel, d, h.dp, 1.0f, seed, 2);
  } else {  // Mixed: each head a different blend, as in a real layer
    switch (variant) {
      case 0: band(10.0f, 1, bandCols); sink(12.0f); break;  // previous tokens + sink
      case 1: sink(14.0f); break;                            // mostly sink
      case 2: band(7.0f, 0, bandCols); sink(11.0f); break;   // wide local + sink
      case 3: sink(12.0f); break;                            // content + sink
    }
    float content = variant == 3 ? 1.6f : 0.6f;
    addNoise(h.wq, h.dModel, d, h.dp, content, seed, 1);
    addNoise(h.wk, h.dModel, d, h.dp, content, seed, 2);
  }
  addNoise(h.wv, h.dModel, d, h.dp, 1.0f, seed, 3);
  return h;
}

namespace {

Buffer uploadFloats(Context& ctx, const std::vector<float>& v, const char* name, VkBufferUsageFlags extra = 0) {
  Buffer b(ctx, v.size() * 4, VK_BUFFER_USAGE_STORAGE_BUFFER_BIT | extra, MemoryUse::DeviceLocal, name);
  b.upload(v.data(), v.size() * 4);
  return b;
}

Buffer uploadTurns(Context& ctx, uint32_t dModel) {
  std::vector<uint64_t> t = positionalTurns(dModel);
  std::vector<uint32_t> words(t.size() * 2);
  for (size_t i = 0; i < t.size(); ++i) {
    words[2 * i] = uint32_t(t[i]);
    words[2 * i + 1] = uint32_t(t[i] >> 32);
  }
  Buffer b(ctx, words.size() * 4, VK_BUFFER_USAGE_STORAGE_BUFFER_BIT, MemoryUse::DeviceLocal, "PE turns");
  b.upload(words.data(), words.size() * 4);
  return b;
}

void recordEmbed(Recording& rec, Kernels& kernels, const Buffer& turns, const Buffer& x,
                 uint32_t rowBegin, uint32_t rowCount, uint32_t dModel, uint32_t seed,
                 uint32_t vocab, bool peOnly) {
  gpu::EmbedParams p{};
  p.rowBegin = rowBegin;
  p.rowCount = rowCount;
  p.dModel = dModel;
  p.seed = seed;
  p.vocab = vocab;
  p.bosFirst = 1;
  p.peOnly = peOnly ? 1 : 0;
  p.embScale = embeddingScale();
  dispatch(rec.ctx, rec.cmd, rec.arena, kernels.embed(), {Binding::storage(turns), Binding::storage(x)},
           p, Items{uint64_t(rowCount) * (dModel / 2)});
}

}  // namespace

HeadData generateHead(Context& ctx, Kernels& kernels, const SyntheticSpec& spec,
                      const ProgressFn& progress, const CancelFn& cancelled) {
  spec.validate();
  HeadWeights w = makeHeadWeights(spec, spec.head);
  HeadData head(ctx, spec.n, spec.d, spec.withV);
  uint32_t dp = head.dp(), dm = spec.dModel;
  Buffer turns = uploadTurns(ctx, dm);
  // W through a texel buffer where it fits the device's texel limit (see project.comp).
  const bool texelW = spec.weightTexels && uint64_t(dm) * (dp / 4) <= ctx.caps().limits.maxTexelBufferElements;
  const VkBufferUsageFlags wUsage = texelW ? VK_BUFFER_USAGE_UNIFORM_TEXEL_BUFFER_BIT : 0;
  Buffer wq = uploadFloats(ctx, w.wq, "W_q", wUsage), wk = uploadFloats(ctx, w.wk, "W_k", wUsage);
  Buffer bq = uploadFloats(ctx, w.bq, "b_q"), bk = uploadFloats(ctx, w.bk, "b_k");
  Buffer wv, bv;
  if (spec.withV) {
    wv = uploadFloats(ctx, w.wv, "W_v", wUsage);
    bv = uploadFloats(ctx, w.bv, "b_v");
  }
  auto texels = [&](const Buffer& b, const char* name) {
    return texelW && b ? BufferView(ctx, b, VK_FORMAT_R32G32B32A32_SFLOAT, 0, VK_WHOLE_SIZE, name) : BufferView();
  };
  BufferView wqTexels = texels(wq, "W_q texels"), wkTexels = texels(wk, "W_k texels"),
             wvTexels = texels(wv, "W_v texels");
  // Rows per chunk: X stays under 32 MiB and a chunk's Q stays inside one binding.
  uint32_t chunkRows = uint32_t(std::max<uint64_t>(256, (uint64_t(32) << 20) / (uint64_t(dm) * 4)));
  // embed.comp runs one invocation per (row, frequency pair) in 64-wide groups along x.
  uint32_t maxGroups = ctx.caps().limits.maxComputeWorkGroupCount[0];
  uint32_t byGroups = uint32_t(std::min<uint64_t>(uint64_t(maxGroups) * 64 / (dm / 2), UINT32_MAX)) / 256 * 256;
  chunkRows = std::min({chunkRows, spec.n, head.rowsPerWindow(), std::max(byGroups, 1u)});
  Buffer x(ctx, uint64_t(chunkRows) * dm * 4, VK_BUFFER_USAGE_STORAGE_BUFFER_BIT, MemoryUse::DeviceLocal, "X");
  CommandStream stream(ctx, false);
  for (uint32_t r0 = 0; r0 < spec.n; r0 += chunkRows) {
    if (cancelled && cancelled()) throw Cancelled();
    uint32_t r1 = std::min(spec.n, r0 + chunkRows);
    Recording rec = stream.begin();
    recordEmbed(rec, kernels, turns, x, r0, r1 - r0, dm, spec.seed, spec.vocab, false);
    // X is written before the projections read it.
    barrier::computeToCompute(rec.cmd);
    auto project = [&](Buffer& out, const Buffer& wt, const BufferView& wTexels, const Buffer& b) {
      BufferWindow yw = makeWindow(ctx, out, uint64_t(r0) * dp * 4, uint64_t(r1) * dp * 4);
      gpu::ProjectParams p{r1 - r0, dm, dp, yw.elementSkip};
      dispatch(ctx, rec.cmd, rec.arena, kernels.project(dp, texelW),
               {Binding::storage(x), texelW ? Binding::texels(wTexels.handle()) : Binding::storage(wt),
                Binding::storage(b), Binding::storage(yw)},
               p, Items{r1 - r0});
    };
    project(head.q(), wq, wqTexels, bq);
    project(head.k(), wk, wkTexels, bk);
    if (spec.withV) project(head.v(), wv, wvTexels, bv);
    // Q, K, V are written before any later pass reads them (next submission, same queue).
    barrier::computeToCompute(rec.cmd);
    stream.submitAndWait();
    if (progress) progress(double(r1) / spec.n);
  }
  return head;
}

std::vector<float> computePositionalEncoding(Context& ctx, Kernels& kernels, uint32_t begin,
                                             uint32_t end, uint32_t dModel) {
  if (end <= begin) throw Error("empty position range");
  if (dModel < 2 || dModel % 2) throw Error("the encoding width must be even (got " + std::to_string(dModel) + ")");
  uint64_t count = uint64_t(end - begin) * dModel;
  if (count * 4 > ctx.caps().limits.maxStorageBufferRange ||
      count / 2 / 64 >= ctx.caps().limits.maxComputeWorkGroupCount[0])
    throw Error("positional encodings of " + std::to_string(end - begin) + " x " +
                std::to_string(dModel) + " are too large to compute at once");
  Buffer turns = uploadTurns(ctx, dModel);
  Buffer x(ctx, count * 4, VK_BUFFER_USAGE_STORAGE_BUFFER_BIT, MemoryUse::DeviceLocal, "PE");
  CommandStream stream(ctx, false);
  Recording rec = stream.begin();
  recordEmbed(rec, kernels, turns, x, begin, end - begin, dModel, 0, 1, true);
  // The encodings are written before they are copied out.
  barrier::computeToTransfer(rec.cmd);
  stream.submitAndWait();
  std::vector<float> out(count);
  x.download(out.data(), count * 4);
  return out;
}

}  // namespace attnscope
