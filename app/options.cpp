#include "app/options.h"

#include <algorithm>
#include <cstdlib>

#include "app/progress.h"
#include "compute/npy.h"
#include "compute/safetensors.h"
#include "compute/rope.h"
#include "compute/tokens.h"
#include "engine/commands.h"
#include "engine/error.h"
#include "viz/colormap.h"
#include "viz/figure_renderer.h"

namespace attnscope {

void DeviceOptions::add(CLI::App& app) {
  app.add_option("--device", device, "Vulkan device: an index or part of its name (see 'attnscope info')");
  app.add_flag("--validate", validate, "Turn on the Khronos validation layer (also ATTNSCOPE_VALIDATE=1)");
  app.add_flag("--portable", portable, "Use only the portable shader paths (no subgroup shuffles)");
}

ContextOptions DeviceOptions::context() const {
  ContextOptions o;
  o.device = device;
  o.validate = validate || validationRequestedByEnvironment();
  o.forcePortable = portable;
  return o;
}

void InputOptions::add(CLI::App& app, uint32_t defaultTokens) {
  tokens = defaultTokens;
  syntheticOnly_ = {
      app.add_option("--preset", preset, "Synthetic head pattern: local, sink, broad or mixed")->capture_default_str(),
      app.add_option("-n,--tokens", tokens, "Tokens in the synthetic sequence (the map is n x n)")->capture_default_str(),
      app.add_option("-d,--dim", dim, "Head dimension d of the synthetic heads (1 to 1024)")->capture_default_str(),
      app.add_option("--heads", heads, "Number of synthetic heads")->capture_default_str(),
      app.add_option("--d-model", dModel, "Width of the synthetic embeddings and positional encodings")->capture_default_str(),
      app.add_option("--seed", seed, "Seed of the synthetic inputs")->capture_default_str(),
  };
  app.add_option("--head", head, "Which head to show (0-based)")->capture_default_str();
  app.add_option("--q", qPath,
                 "Queries: a float32/float16 .npy of shape [n, d], or FILE.safetensors:TENSOR of shape [n, d], "
                 "[heads, n, d] or [n, heads, d] (instead of a preset)");
  app.add_option("--k", kPath, "Keys, like --q; fewer K heads than Q heads is grouped-query attention");
  app.add_option("--v", vPath, "Values, like --k (optional)");
  app.add_option("--qkv", qkvPath,
                 "Q, K and V from one .safetensors file (as tools/export_qk.py writes), found by their names: "
                 "layers.L.q / .k / .v, or q_proj, k_proj, v_proj (see 'attnscope info FILE')");
  filesOnly_ = {
      app.add_option("--layer", layer,
                     "Which layer of a file with several (the number in the tensor names; also fills {layer} in "
                     "--q/--k/--v tensor names). Default: the first"),
      app.add_option("--layout", layout,
                     "Layout of 3-D tensors: auto (from the file's metadata or the only reading the shapes allow), "
                     "hnd ([heads, n, d]) or nhd ([n, heads, d])")
          ->capture_default_str(),
      app.add_option("--query-offset", queryOffset,
                     "Position of Q's first row, for Q holding only the last queries of the sequence (K all n): "
                     "n - rows of Q. Files from export_qk --last-queries record it"),
      app.add_flag("--override-metadata", overrideMetadata,
                   "Let options contradict the capture's metadata (mask, scale, soft cap, rotary, layout)"),
  };
  app.add_option("--token-file", tokenFile,
                 "Tokens for the labels and readouts: a JSON array of strings or one token per line (n of them)");
  app.add_flag("--rope", rope,
               "Apply rotary position embedding to Q and K on the GPU (for Q, K captured before it; a capture's "
               "metadata does this by itself)");
  app.add_option("--rope-base", ropeBase, "Rotary base theta (default 10000, or the capture's)");
  app.add_option("--rope-dims", ropeDims, "Rotary dimensions (even; default all of d, or the capture's)");
  app.add_option("--rope-style", ropeStyle, "halves (rotate_half: Llama, NeoX; the default) or interleaved (GPT-J)");
}

void InputOptions::checkRelevant() const {
  const auto& unused = fromFiles() ? syntheticOnly_ : filesOnly_;
  for (CLI::Option* opt : unused)
    if (opt && opt->count() > 0)
      throw Error(opt->get_name() + (fromFiles() ? " describes synthetic input and does nothing with --q/--k/--qkv: "
                                                   "the files set the tokens and dimensions; drop it"
                                                 : " applies to inputs from files (--q/--k or --qkv) and does nothing "
                                                   "for a synthetic preset; drop it"));
}

SyntheticSpec InputOptions::synthetic(bool withV) const {
  SyntheticSpec syn;
  syn.preset = parsePreset(preset);
  syn.n = tokens;
  syn.d = dim;
  syn.heads = heads;
  syn.head = head;
  syn.dModel = dModel;
  syn.seed = seed;
  syn.withV = withV;
  syn.validate();
  return syn;
}

QKRequest InputOptions::request(std::optional<uint64_t> tokenCount) const {
  QKRequest r;
  r.qPath = qPath;
  r.kPath = kPath;
  r.vPath = vPath;
  r.qkvPath = qkvPath;
  r.layer = layer;
  r.layout = layout;
  r.head = head;
  r.tokenCount = tokenCount;
  r.queryOffset = queryOffset;
  r.overrideMetadata = overrideMetadata;
  return r;
}

void AttentionOptions::add(CLI::App& app) {
  app.add_option("--mask", mask,
                 "none, causal, window (causal sliding window) or window-both (default: the capture's, else causal)");
  app.add_option("--window", window,
                 "Sliding window W: causal keeps j <= i with i - j < W; two-sided keeps |i - j| < W (needs a "
                 "windowed mask; with causal or no --mask it makes the mask a causal window)");
  app.add_option("--scale", scale, "Logit scale (default the capture's, else 1/sqrt(d))");
  app.add_option("--softcap", softcap,
                 "Soft cap C: logits become C tanh(s / C) before the softmax (Gemma-2's attn_logit_softcapping; "
                 "default the capture's, else none)");
  app.add_option("--temperature", temperature, "Softmax temperature: logits are divided by it")->capture_default_str();
}

AttentionRequest AttentionOptions::request(const InputOptions& in) const {
  AttentionRequest r;
  r.mask = mask;
  r.window = window;
  r.scale = scale;
  r.softcap = softcap;
  r.temperature = temperature;
  r.rope = in.rope;
  r.ropeBase = in.ropeBase;
  r.ropeDims = in.ropeDims;
  r.ropeStyle = in.ropeStyle;
  r.overrideMetadata = in.overrideMetadata;
  return r;
}

void RegionOptions::add(CLI::App& app) {
  app.add_option("--rows", rows, "Query rows to show, as BEGIN:END (default the whole map)");
  app.add_option("--cols", cols, "Key columns to show, as BEGIN:END (default the whole map)");
}

static void parseRange(const std::string& text, uint32_t n, const char* what, uint64_t& a, uint64_t& b) {
  a = 0;
  b = n;
  if (text.empty()) return;
  size_t colon = text.find(':');
  auto num = [&](const std::string& s, uint64_t dflt) -> uint64_t {
    if (s.empty()) return dflt;
    if (s.find_first_not_of("0123456789") != std::string::npos || s.size() > 18)
      throw Error(std::string("--") + what + " '" + text + "' is not BEGIN:END with whole numbers, e.g. 0:512");
    return std::stoull(s);
  };
  if (colon == std::string::npos)
    throw Error(std::string("--") + what + " '" + text + "' is not BEGIN:END, e.g. 0:512");
  a = num(text.substr(0, colon), 0);
  b = num(text.substr(colon + 1), n);
}

MapRegion RegionOptions::resolve(const AttentionSpec& spec) const {
  MapRegion r;
  uint32_t n = spec.n;
  parseRange(rows, n, "rows", r.rowBegin, r.rowEnd);
  parseRange(cols, n, "cols", r.colBegin, r.colEnd);
  if (rows.empty() || rows.front() == ':') r.rowBegin = std::max<uint64_t>(r.rowBegin, spec.queryBegin);
  validateRegion(r, n);
  if (r.rowBegin < spec.queryBegin)
    throw Error("--rows " + rows + " starts before the first captured query (position " +
                std::to_string(spec.queryBegin) + "): Q holds positions " + std::to_string(spec.queryBegin) + " to " +
                std::to_string(n - 1));
  return r;
}

void StyleOptions::add(CLI::App& app, uint32_t defaultWidth, uint32_t defaultHeight) {
  width = defaultWidth;
  height = defaultHeight;
  app.add_option("--width", width, "Image (or window) width in pixels")->capture_default_str();
  app.add_option("--height", height, "Image (or window) height in pixels")->capture_default_str();
  app.add_option("--agg", aggregation, "How a pixel covering many cells aggregates them: max or mean")->capture_default_str();
  app.add_option("--colormap", colormap, "viridis, magma, inferno, plasma, cividis or grayscale")->capture_default_str();
  app.add_option("--color-scale", colorScale, "lin or log")->capture_default_str();
  app.add_option("--vmin", vmin, "Lower end of the colour range (default from the data)");
  app.add_option("--vmax", vmax, "Upper end of the colour range (default from the data)");
}

HeatmapStyle StyleOptions::style() const {
  return makeHeatmapStyle(aggregation, colormap, colorScale, vmin, vmax, width, height);
}

Session::Session(const DeviceOptions& o) : GpuSession(o.context()) {}

Session::~Session() { pngRenderer_.reset(); }  // before the context it was made on

FigureRenderer& Session::pngRenderer() {
  if (!pngRenderer_)
    pngRenderer_ = std::make_unique<FigureRenderer>(*ctx, *compiler, VK_FORMAT_R8G8B8A8_UNORM,
                                                    VK_IMAGE_LAYOUT_TRANSFER_SRC_OPTIMAL);
  return *pngRenderer_;
}

std::optional<uint64_t> tokenFileCount(const InputOptions& in) {
  if (in.tokenFile.empty()) return std::nullopt;
  return readTokens(in.tokenFile).size();
}

QKSources openInputFiles(const InputOptions& in, bool needV, std::optional<uint64_t> tokenCount) {
  return openQK(in.request(tokenCount), needV);
}

QKSources openInputFiles(const InputOptions& in, bool needV) { return openInputFiles(in, needV, tokenFileCount(in)); }

ResolvedAttention attentionFor(const AttentionOptions& a, const InputOptions& in, const QKSources& src) {
  return resolveAttention(a.request(in), src.layerMetadata(), uint32_t(src.n()), uint32_t(src.d()), src.queryBegin);
}

ResolvedAttention syntheticAttention(const AttentionOptions& a, const InputOptions& in) {
  in.checkRelevant();
  return resolveAttention(a.request(in), nullptr, in.tokens, in.dim, 0);
}

HeadData uploadHead(Context& ctx, const QKSources& src, bool withV, bool quiet) {
  uint64_t values = src.n() * src.d() * (withV && src.v ? 3 : 2);
  ProgressBar bar("reading " + std::string(withV && src.v ? "Q, K, V" : "Q, K"), quiet || values < (uint64_t(16) << 20));
  HeadData h = HeadData::fromSources(ctx, src.q, src.k, withV && src.v ? &*src.v : nullptr,
                                     [&](double f) { bar.update(f); }, cancelRequested, src.queryBegin);
  bar.finish();
  return h;
}

void applyRopeIfAsked(Context& ctx, Kernels& kernels, HeadData& head, const ResolvedAttention& a) {
  if (a.rope) applyRope(ctx, kernels, head, {a.ropeBase, a.ropeDims, a.ropeHalves});
}

std::vector<std::string> visibleTokens(const InputOptions& in, uint32_t n) {
  std::vector<std::string> tokens;
  if (in.tokenFile.empty()) return tokens;
  for (const std::string& t : readTokens(in.tokenFile, n)) tokens.push_back(visibleToken(t));
  return tokens;
}

// The block_stats variants for this d, tuned for the device once and cached (see KernelTuner).
static void prepareKernelsFor(Session& s, uint32_t dp, bool quiet) {
  if (s.kernels->hasChoice(dp)) return;
  ProgressBar bar("timing kernel variants", quiet);
  s.prepareKernels(dp, [&](double f) { bar.update(f); });
  bar.finish();
}

LoadedInput loadInput(Session& s, const InputOptions& in, const AttentionOptions& a, bool needV, bool quiet) {
  if (in.fromFiles()) {
    in.checkRelevant();
    QKSources src = openInputFiles(in, needV);
    ResolvedAttention att = attentionFor(a, in, src);
    std::vector<std::string> tokens = visibleTokens(in, att.spec.n);  // checked before the upload
    std::string desc = src.description + (src.heads > 1 ? ", head " + std::to_string(in.head) : "");
    LoadedInput out{uploadHead(*s.ctx, src, needV, quiet), att.spec, desc, std::move(tokens)};
    applyRopeIfAsked(*s.ctx, *s.kernels, out.head, att);
    prepareKernelsFor(s, out.head.dp(), quiet);
    return out;
  }
  ResolvedAttention att = syntheticAttention(a, in);
  SyntheticSpec syn = in.synthetic(needV);
  ProgressBar bar("synthetic inputs", quiet || syn.n < 200000);
  HeadData head = generateHead(*s.ctx, *s.kernels, syn, [&](double f) { bar.update(f); }, cancelRequested);
  bar.finish();
  std::string desc = std::string("preset ") + presetName(syn.preset) + ", head " + std::to_string(syn.head) + " of " +
                     std::to_string(syn.heads);
  applyRopeIfAsked(*s.ctx, *s.kernels, head, att);
  prepareKernelsFor(s, head.dp(), quiet);
  return {std::move(head), att.spec, desc, visibleTokens(in, att.spec.n)};
}

void runMapJob(Session& s, MapJob& job, const std::string& label, bool quiet) {
  CommandStream stream(*s.ctx);
  ProgressBar bar(label, quiet);
  while (!job.done()) {
    if (cancelRequested()) throw Cancelled();
    Recording rec = stream.begin();
    job.recordNext(rec);
    stream.submitAndWait();
    bar.update(job.progress());
  }
  bar.finish();
}

}  // namespace attnscope
