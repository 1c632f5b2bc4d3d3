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
  const char* env = std::getenv("ATTNSCOPE_VALIDATE");
  o.validate = validate || (env && *env && std::string(env) != "0");
  o.forcePortable = portable;
  return o;
}

void InputOptions::add(CLI::App& app, uint32_t defaultTokens) {
  tokens = defaultTokens;
  app.add_option("--preset", preset, "Synthetic head pattern: local, sink, broad or mixed")->capture_default_str();
  app.add_option("-n,--tokens", tokens, "Tokens in the synthetic sequence (the map is n x n)")->capture_default_str();
  app.add_option("-d,--dim", dim, "Head dimension d (1 to 1024)")->capture_default_str();
  app.add_option("--heads", heads, "Number of synthetic heads")->capture_default_str();
  app.add_option("--head", head, "Which head to show (0-based)")->capture_default_str();
  app.add_option("--d-model", dModel, "Width of the synthetic embeddings and positional encodings")->capture_default_str();
  app.add_option("--seed", seed, "Seed of the synthetic inputs")->capture_default_str();
  app.add_option("--q", qPath,
                 "Queries: a float32/float16 .npy of shape [n, d], or FILE.safetensors:TENSOR of shape [n, d], "
                 "[heads, n, d] or [n, heads, d] (instead of a preset)");
  app.add_option("--k", kPath, "Keys, like --q; fewer K heads than Q heads is grouped-query attention");
  app.add_option("--v", vPath, "Values, like --k (optional)");
  app.add_option("--qkv", qkvPath,
                 "Q, K and V from one .safetensors file (as tools/export_qk.py writes), found by their names: "
                 "layers.L.q / .k / .v, or q_proj, k_proj, v_proj (see 'attnscope info FILE')");
  app.add_option("--layer", layer,
                 "Which layer of a file with several (the number in the tensor names; also fills {layer} in "
                 "--q/--k/--v tensor names). Default: the first");
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

Session::~Session() { pngRenderer_.reset(); }  // before the context it was made on

FigureRenderer& Session::pngRenderer() {
  if (!pngRenderer_)
    pngRenderer_ = std::make_unique<FigureRenderer>(*ctx, *compiler, VK_FORMAT_R8G8B8A8_UNORM,
                                                    VK_IMAGE_LAYOUT_TRANSFER_SRC_OPTIMAL);
  return *pngRenderer_;
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

// Layer numbers in the names matching a template "pre{layer}post".
std::vector<uint32_t> templateLayers(const SafetensorsFile& f, const std::string& tmpl) {
  size_t at = tmpl.find("{layer}");
  std::string pre = tmpl.substr(0, at), post = tmpl.substr(at + 7);
  std::vector<uint32_t> out;
  for (const auto& t : f.tensors()) {
    const std::string& nm = t.name;
    if (nm.size() <= pre.size() + post.size() || nm.compare(0, pre.size(), pre) != 0 ||
        nm.compare(nm.size() - post.size(), post.size(), post) != 0)
      continue;
    std::string mid = nm.substr(pre.size(), nm.size() - pre.size() - post.size());
    if (mid.size() < 10 && mid.find_first_not_of("0123456789") == std::string::npos) out.push_back(uint32_t(std::stoul(mid)));
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::string listLayers(const std::vector<uint32_t>& layers) {
  std::string s;
  for (size_t i = 0; i < layers.size(); ++i) {
    if (i == 8 && layers.size() > 10) return s + ", ... " + std::to_string(layers.back());
    s += (i ? ", " : "") + std::to_string(layers[i]);
  }
  return s;
}

// FILE.safetensors:TENSOR with {layer} filled in; the layers the template can take.
HeadSource openTemplated(const std::string& arg, const std::string& what, const InputOptions& in,
                         std::vector<uint32_t>* layers, std::optional<uint32_t>* layer) {
  size_t sep = arg.find(".safetensors:");
  if (arg.find("{layer}") == std::string::npos || sep == std::string::npos) return HeadSource::open(arg, what, in.layout);
  auto file = std::make_shared<const SafetensorsFile>(arg.substr(0, sep + 12));
  std::string tmpl = arg.substr(sep + 13);
  std::vector<uint32_t> found = templateLayers(*file, tmpl);
  if (found.empty()) throw Error(what + " tensor '" + tmpl + "': no tensor in '" + file->path() + "' matches it");
  uint32_t L = in.layer.value_or(found.front());
  if (!std::binary_search(found.begin(), found.end(), L))
    throw Error("layer " + std::to_string(L) + " does not exist: '" + tmpl + "' has layers " + listLayers(found));
  if (layers && layers->empty()) *layers = found;
  if (layer) *layer = L;
  std::string name = tmpl;
  name.replace(name.find("{layer}"), 7, std::to_string(L));
  return HeadSource::fromTensor(file, name, what, in.layout);
}

}  // namespace

void QKSources::selectHead(uint32_t head) {
  q.selectHead(head);
  for (HeadSource* s : {&k, v ? &*v : nullptr}) {
    if (!s) continue;
    const char* what = s == &k ? "K" : "V";
    if (s->heads() > heads || heads % s->heads() != 0)
      throw Error(std::string(what) + " has " + std::to_string(s->heads()) + " heads; Q has " + std::to_string(heads) +
                  ", which is not a multiple of it");
    s->selectHead(head / (heads / s->heads()));
  }
}

QKSources openQK(const InputOptions& in, bool needV) {
  std::optional<HeadSource> q, k, v;
  std::vector<uint32_t> layers;
  std::optional<uint32_t> layer;
  std::string desc;
  if (!in.qkvPath.empty()) {
    if (!in.qPath.empty() || !in.kPath.empty() || !in.vPath.empty())
      throw Error("give either --qkv FILE or --q/--k/--v, not both");
    auto file = std::make_shared<const SafetensorsFile>(in.qkvPath);
    std::vector<LayerTensors> groups = findLayerTensors(file->tensors());
    if (groups.empty()) {
      std::string names;
      for (const auto& t : file->tensors()) names += (names.empty() ? "" : ", ") + t.name;
      throw Error("'" + in.qkvPath + "' has no tensors named like Q and K (…q, …k or q_proj, k_proj); it has: " +
                  (names.empty() ? "none" : names) + ". Name them with --q FILE:TENSOR --k FILE:TENSOR");
    }
    for (const auto& g : groups)
      if (g.layer) layers.push_back(*g.layer);
    const LayerTensors* pick = &groups.front();
    if (in.layer) {
      pick = nullptr;
      for (const auto& g : groups)
        if (g.layer == in.layer) pick = &g;
      if (!pick)
        throw Error("layer " + std::to_string(*in.layer) + " does not exist: '" + in.qkvPath + "' has " +
                    (layers.empty() ? "no layer numbers" : "layers " + listLayers(layers)));
    }
    layer = pick->layer;
    q = HeadSource::fromTensor(file, pick->q, "Q", in.layout);
    k = HeadSource::fromTensor(file, pick->k, "K", in.layout);
    if (!pick->v.empty() && needV) v = HeadSource::fromTensor(file, pick->v, "V", in.layout);
    desc = in.qkvPath + (pick->prefix.empty() ? "" : " " + pick->prefix);
  } else {
    if (in.qPath.empty() || in.kPath.empty())
      throw Error("give both --q and --k (.npy files of shape [n, d], or FILE.safetensors:TENSOR), or --qkv FILE");
    q = openTemplated(in.qPath, "Q", in, &layers, &layer);
    k = openTemplated(in.kPath, "K", in, &layers, &layer);
    if (!in.vPath.empty()) v = openTemplated(in.vPath, "V", in, &layers, &layer);
    desc = "Q " + in.qPath + ", K " + in.kPath;
    if (layer) {
      size_t at;
      while ((at = desc.find("{layer}")) != std::string::npos) desc.replace(at, 7, std::to_string(*layer));
    }
  }
  if (in.layer && !layer) throw Error("--layer " + std::to_string(*in.layer) + " was given, but the input has no layers");
  if (q->cols() != k->cols())
    throw Error("Q has d = " + std::to_string(q->cols()) + " but K has d = " + std::to_string(k->cols()) +
                ": their last dimensions must match");
  if (q->rows() != k->rows())
    throw Error("Q has " + std::to_string(q->rows()) + " rows but K has " + std::to_string(k->rows()) +
                ": attnscope shows self-attention maps, n x n");
  if (q->rows() > kMaxTokens) throw Error("too many tokens: " + std::to_string(q->rows()));
  if (q->cols() > kMaxHeadDim)
    throw Error("head dimension " + std::to_string(q->cols()) + " is larger than the supported " + std::to_string(kMaxHeadDim));
  if (v && (v->rows() != q->rows() || v->cols() != q->cols()))
    throw Error("V has shape [" + std::to_string(v->rows()) + ", " + std::to_string(v->cols()) + "], expected [" +
                std::to_string(q->rows()) + ", " + std::to_string(q->cols()) + "] like Q and K");
  if (!v && needV) throw Error("this needs values too: give --v v.npy (or a file with V tensors)");
  QKSources s{*q, *k, v, q->heads(), layers, layer, desc};
  s.selectHead(in.head);
  return s;
}

HeadData uploadHead(Context& ctx, const QKSources& src, bool withV, bool quiet) {
  uint64_t values = src.n() * src.d() * (withV && src.v ? 3 : 2);
  ProgressBar bar("reading " + std::string(withV && src.v ? "Q, K, V" : "Q, K"), quiet || values < (uint64_t(16) << 20));
  HeadData h = HeadData::fromSources(ctx, src.q, src.k, withV && src.v ? &*src.v : nullptr,
                                     [&](double f) { bar.update(f); }, cancelRequested);
  bar.finish();
  return h;
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
    QKSources src = openQK(in, needV);
    AttentionSpec spec = attentionSpecFor(a, uint32_t(src.n()), uint32_t(src.d()));
    std::vector<std::string> tokens = visibleTokens(in, spec.n);  // checked before the upload
    std::string desc = src.description + (src.heads > 1 ? ", head " + std::to_string(in.head) : "");
    LoadedInput out{uploadHead(*s.ctx, src, needV, quiet), spec, desc, std::move(tokens)};
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
