#include "app/options.h"

#include <cstdlib>

#include "app/progress.h"
#include "compute/npy.h"
#include "compute/safetensors.h"
#include "compute/rope.h"
#include "compute/tokens.h"
#include "engine/commands.h"
#include "engine/error.h"
#include "viz/colormap.h"

namespace attnscope {

void DeviceOptions::add(CLI::App& app) {
  app.add_option("--device", device, "Vulkan device: an index or part of its name (see 'attnscope info')");
  app.add_flag("--validate", validate, "Turn on the Khronos validation layer (also ATTNSCOPE_VALIDATE=1)");
  app.add_flag("--portable", portable, "Use only the portable shader paths (no subgroup shuffles)");
}

ContextOptions DeviceOptions::context() const {
  ContextOptions o;
  o.device = device;
  const char* env = std::getenv("ATTNSCOPE_VALIDATE");
  o.validate = validate || (env && *env && std::string(env) != "0");
  o.forcePortable = portable;
  return o;
}

void InputOptions::add(CLI::App& app, uint32_t defaultTokens) {
  tokens = defaultTokens;
  app.add_option("--preset", preset, "Synthetic head pattern: local, sink, broad or mixed")->capture_default_str();
  app.add_option("-n,--tokens", tokens, "Tokens in the synthetic sequence (the map is n x n)")->capture_default_str();
  app.add_option("-d,--dim", dim, "Head dimension d (1 to 256)")->capture_default_str();
  app.add_option("--heads", heads, "Number of synthetic heads")->capture_default_str();
  app.add_option("--head", head, "Which head to show (0-based)")->capture_default_str();
  app.add_option("--d-model", dModel, "Width of the synthetic embeddings and positional encodings")->capture_default_str();
  app.add_option("--seed", seed, "Seed of the synthetic inputs")->capture_default_str();
  app.add_option("--q", qPath,
                 "Queries: a float32/float16 .npy of shape [n, d], or FILE.safetensors:TENSOR of shape [n, d], "
                 "[heads, n, d] or [n, heads, d] (instead of a preset)");
  app.add_option("--k", kPath, "Keys, like --q; fewer K heads than Q heads is grouped-query attention");
  app.add_option("--v", vPath, "Values, like --k (optional)");
  app.add_option("--token-file", tokenFile,
                 "Tokens for the labels and readouts: a JSON array of strings or one token per line (n of them)");
  app.add_flag("--rope", rope, "Apply rotary position embedding to Q and K on the GPU (for Q, K captured before it)");
  app.add_option("--rope-base", ropeBase, "Rotary base theta")->capture_default_str();
  app.add_option("--rope-dims", ropeDims, "Rotary dimensions (even; default all of d)");
  app.add_option("--rope-style", ropeStyle, "halves (rotate_half: Llama, NeoX) or interleaved (GPT-J)")->capture_default_str();
  app.add_option("--layout", layout, "Layout of 3-D tensors: auto, hnd ([heads, n, d]) or nhd ([n, heads, d])")
      ->capture_default_str();
}

void AttentionOptions::add(CLI::App& app) {
  app.add_option("--mask", mask, "none, causal, window (causal sliding window) or window-both")->capture_default_str();
  app.add_option("--window", window, "Sliding window W: causal keeps j <= i with i - j < W; two-sided keeps |i - j| < W");
  app.add_option("--scale", scale, "Logit scale (default 1/sqrt(d))");
  app.add_option("--temperature", temperature, "Softmax temperature: logits are divided by it")->capture_default_str();
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

MapRegion RegionOptions::resolve(uint32_t n) const {
  MapRegion r;
  parseRange(rows, n, "rows", r.rowBegin, r.rowEnd);
  parseRange(cols, n, "cols", r.colBegin, r.colEnd);
  validateRegion(r, n);
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
  HeatmapStyle s;
  Colormaps::get().index(colormap);  // throws on an unknown name
  s.colormap = colormap;
  if (aggregation == "max") s.channel = kChannelMax;
  else if (aggregation == "mean") s.channel = kChannelMean;
  else throw Error("unknown aggregation '" + aggregation + "': use max or mean");
  if (colorScale == "log") s.logScale = true;
  else if (colorScale == "lin" || colorScale == "linear") s.logScale = false;
  else throw Error("unknown colour scale '" + colorScale + "': use lin or log");
  if (width < 256 || height < 256 || width > 16384 || height > 16384)
    throw Error("the image must be between 256 and 16384 pixels on each side (got " + std::to_string(width) +
                "x" + std::to_string(height) + ")");
  s.vmin = vmin;
  s.vmax = vmax;
  if (vmin && vmax && !(*vmin < *vmax)) throw Error("--vmin must be smaller than --vmax");
  if (s.logScale && vmin && !(*vmin > 0)) throw Error("a log colour scale needs --vmin > 0");
  return s;
}

Session::Session(const DeviceOptions& o) {
  ctx = std::make_unique<Context>(o.context());
  compiler = std::make_unique<ShaderCompiler>();
  kernels = std::make_unique<Kernels>(*ctx, *compiler);
}

AttentionSpec attentionSpecFor(const AttentionOptions& a, uint32_t n, uint32_t d) {
  AttentionSpec spec;
  spec.n = n;
  spec.d = d;
  spec.mask = parseMask(a.mask, a.window.has_value());
  if (a.window) spec.window = *a.window;
  else if (spec.mask == MaskKind::WindowCausal || spec.mask == MaskKind::WindowBoth)
    throw Error("the '" + a.mask + "' mask needs --window W");
  spec.scale = a.scale;
  spec.temperature = a.temperature;
  spec.validate();
  return spec;
}

namespace {

// A 2-D input as [n, d] with its head count: a .npy matrix, or one head of a safetensors
// tensor ([n, d], [heads, n, d] or [n, heads, d]; a leading batch of 1 is dropped).
NpyMatrix loadHeadMatrix(const std::string& arg, const std::string& what, const std::string& layout,
                         uint32_t qHeads, uint32_t qHead, uint32_t& heads) {
  size_t sep = arg.find(".safetensors:");
  if (sep == std::string::npos) {
    heads = 1;
    return readNpyMatrix(arg, what);
  }
  std::string path = arg.substr(0, sep + 12), name = arg.substr(sep + 13);
  SafetensorsFile file(path);
  const TensorInfo& t = file.tensor(name);
  std::vector<uint64_t> shape = t.shape;
  while (shape.size() > 2 && shape[0] == 1) shape.erase(shape.begin());
  std::string where = what + " tensor '" + name + "'";
  if (shape.size() < 2 || shape.size() > 3)
    throw Error(where + " has " + std::to_string(t.shape.size()) + " dimensions; expected [n, d], [heads, n, d] or [n, heads, d]");
  std::string lay = layout;
  if (shape.size() == 3 && lay == "auto") lay = "hnd";
  if (shape.size() == 3 && lay != "hnd" && lay != "nhd") throw Error("unknown --layout '" + layout + "': use hnd or nhd");
  heads = shape.size() == 2 ? 1 : uint32_t(lay == "hnd" ? shape[0] : shape[1]);
  uint64_t n = shape.size() == 2 ? shape[0] : (lay == "hnd" ? shape[1] : shape[0]), d = shape.back();
  // Grouped-query attention: query head h reads K/V head h / (Hq / Hk).
  uint32_t want = qHead;
  if (what != "Q") {
    if (heads > qHeads || qHeads % heads != 0)
      throw Error(where + " has " + std::to_string(heads) + " heads; Q has " + std::to_string(qHeads) +
                  ", which is not a multiple of it");
    want = qHead / (qHeads / heads);
  } else if (qHead >= heads) {
    throw Error("head " + std::to_string(qHead) + " does not exist: " + where + " has " + std::to_string(heads) + " heads");
  }
  std::vector<float> all = file.read(name);
  NpyMatrix m;
  m.rows = n;
  m.cols = d;
  m.data.resize(n * d);
  for (uint64_t i = 0; i < n; ++i) {
    uint64_t src = heads == 1 ? i * d : lay == "hnd" ? (uint64_t(want) * n + i) * d : (i * heads + want) * d;
    std::copy(all.begin() + src, all.begin() + src + d, m.data.begin() + i * d);
  }
  return m;
}

}  // namespace

QKFiles readQK(const InputOptions& in, bool needV) {
  if (in.qPath.empty() || in.kPath.empty())
    throw Error("give both --q and --k (.npy files of shape [n, d], or FILE.safetensors:TENSOR)");
  QKFiles f;
  f.q = loadHeadMatrix(in.qPath, "Q", in.layout, 0, in.head, f.heads);
  uint32_t kHeads = 0;
  f.k = loadHeadMatrix(in.kPath, "K", in.layout, f.heads, in.head, kHeads);
  const NpyMatrix &q = f.q, &k = f.k;
  if (q.cols != k.cols)
    throw Error("Q has d = " + std::to_string(q.cols) + " but K has d = " + std::to_string(k.cols) +
                ": their last dimensions must match");
  if (q.rows != k.rows)
    throw Error("Q has " + std::to_string(q.rows) + " rows but K has " + std::to_string(k.rows) +
                ": attnscope shows self-attention maps, n x n");
  if (q.rows > kMaxTokens) throw Error("too many tokens: " + std::to_string(q.rows));
  if (q.cols > kMaxHeadDim)
    throw Error("head dimension " + std::to_string(q.cols) + " is larger than the supported " + std::to_string(kMaxHeadDim));
  if (!in.vPath.empty()) {
    uint32_t vHeads = 0;
    f.v = loadHeadMatrix(in.vPath, "V", in.layout, f.heads, in.head, vHeads);
    if (f.v.rows != q.rows || f.v.cols != q.cols)
      throw Error("V has shape [" + std::to_string(f.v.rows) + ", " + std::to_string(f.v.cols) + "], expected [" +
                  std::to_string(q.rows) + ", " + std::to_string(q.cols) + "] like Q and K");
  } else if (needV) {
    throw Error("this needs values too: give --v v.npy");
  }
  return f;
}

void applyRopeIfAsked(Context& ctx, Kernels& kernels, HeadData& head, const InputOptions& in) {
  if (!in.rope) return;
  if (in.ropeStyle != "halves" && in.ropeStyle != "interleaved")
    throw Error("unknown --rope-style '" + in.ropeStyle + "': use halves or interleaved");
  applyRope(ctx, kernels, head, {in.ropeBase, in.ropeDims, in.ropeStyle == "halves"});
}

std::vector<std::string> visibleTokens(const InputOptions& in, uint32_t n) {
  std::vector<std::string> tokens;
  if (in.tokenFile.empty()) return tokens;
  for (const std::string& t : readTokens(in.tokenFile, n)) tokens.push_back(visibleToken(t));
  return tokens;
}

LoadedInput loadInput(Session& s, const InputOptions& in, const AttentionOptions& a, bool needV, bool quiet) {
  if (in.fromFiles()) {
    QKFiles f = readQK(in, needV);
    const NpyMatrix &q = f.q, &k = f.k, &v = f.v;
    AttentionSpec spec = attentionSpecFor(a, uint32_t(q.rows), uint32_t(q.cols));
    LoadedInput out{HeadData::fromHost(*s.ctx, spec.n, spec.d, q.data.data(), k.data.data(),
                                       v.data.empty() ? nullptr : v.data.data()),
                    spec, "Q " + in.qPath + ", K " + in.kPath, visibleTokens(in, spec.n)};
    applyRopeIfAsked(*s.ctx, *s.kernels, out.head, in);
    return out;
  }
  SyntheticSpec syn;
  syn.preset = parsePreset(in.preset);
  syn.n = in.tokens;
  syn.d = in.dim;
  syn.heads = in.heads;
  syn.head = in.head;
  syn.dModel = in.dModel;
  syn.seed = in.seed;
  syn.withV = needV;
  syn.validate();
  AttentionSpec spec = attentionSpecFor(a, syn.n, syn.d);
  ProgressBar bar("synthetic inputs", quiet || syn.n < 200000);
  HeadData head = generateHead(*s.ctx, *s.kernels, syn, [&](double f) { bar.update(f); }, cancelRequested);
  bar.finish();
  std::string desc = std::string("preset ") + presetName(syn.preset) + ", head " + std::to_string(syn.head) + " of " +
                     std::to_string(syn.heads);
  applyRopeIfAsked(*s.ctx, *s.kernels, head, in);
  return {std::move(head), spec, desc, visibleTokens(in, spec.n)};
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

std::string describeRegion(const MapRegion& r, uint32_t n) {
  if (r.rowBegin == 0 && r.colBegin == 0 && r.rowEnd == n && r.colEnd == n) return "whole map";
  return "rows " + std::to_string(r.rowBegin) + ":" + std::to_string(r.rowEnd) + ", cols " +
         std::to_string(r.colBegin) + ":" + std::to_string(r.colEnd);
}

}  // namespace attnscope
