#include "compute/qk_sources.h"

#include <algorithm>

#include "compute/attention_spec.h"
#include "compute/safetensors.h"
#include "compute/tokens.h"
#include "engine/error.h"

namespace attnscope {

namespace {

const char* kCaptureHint = "capture Q and K from the model with tools/export_qk.py (README: Real models)";

bool endsWith(const std::string& s, const std::string& tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

std::string listLayers(const std::vector<uint32_t>& layers) {
  std::string s;
  for (size_t i = 0; i < layers.size(); ++i) {
    if (i == 8 && layers.size() > 10) return s + ", ... " + std::to_string(layers.back());
    s += (i ? ", " : "") + std::to_string(layers[i]);
  }
  return s;
}

// Layer numbers in the names matching a template "pre{layer}post".
std::vector<uint32_t> templateLayers(const SafetensorsFile& f, const std::string& tmpl) {
  size_t at = tmpl.find("{layer}");
  std::string pre = tmpl.substr(0, at), post = tmpl.substr(at + 7);
  std::vector<uint32_t> out;
  for (const auto& t : f.tensors()) {
    const std::string& nm = t.name;
    if (nm.size() <= pre.size() + post.size() || nm.compare(0, pre.size(), pre) != 0 || !endsWith(nm, post)) continue;
    std::string mid = nm.substr(pre.size(), nm.size() - pre.size() - post.size());
    if (mid.size() < 10 && mid.find_first_not_of("0123456789") == std::string::npos) out.push_back(uint32_t(std::stoul(mid)));
  }
  std::sort(out.begin(), out.end());
  return out;
}

// One input named on the command line: an .npy file, or a tensor of a .safetensors file.
struct Named {
  std::string what;  // Q, K or V
  std::string arg;   // as given
  std::shared_ptr<const SafetensorsFile> file;  // null for .npy
  std::string tensor;
  std::vector<uint64_t> npyShape;  // [rows, cols] of an .npy file
  std::vector<uint64_t> shape() const { return file ? squeezedShape(file->tensor(tensor).shape) : npyShape; }
};

// FILE.safetensors:TENSOR with {layer} filled in; the layers the template can take.
Named resolveArg(const std::string& arg, const std::string& what, const QKRequest& r,
                 std::vector<uint32_t>& layers, std::optional<uint32_t>& layer) {
  Named n{what, arg, nullptr, ""};
  size_t sep = arg.find(".safetensors:");
  if (sep == std::string::npos) {
    if (endsWith(arg, ".safetensors"))
      throw Error(what + " '" + arg + "' names a .safetensors file but not a tensor: write FILE.safetensors:TENSOR, "
                  "or give the whole file with --qkv (see 'attnscope info FILE')");
    if (arg.find("{layer}") != std::string::npos)
      throw Error(what + " '" + arg + "': {layer} works in .safetensors tensor names (FILE.safetensors:TENSOR) only");
    HeadSource npy = HeadSource::open(arg, what, "auto");
    n.npyShape = {npy.rows(), npy.cols()};
    return n;
  }
  n.file = std::make_shared<const SafetensorsFile>(arg.substr(0, sep + 12));
  std::string tmpl = arg.substr(sep + 13);
  if (tmpl.find("{layer}") == std::string::npos) {
    n.tensor = tmpl;
    n.file->tensor(tmpl);  // throws, listing the tensors there are
    return n;
  }
  std::vector<uint32_t> found = templateLayers(*n.file, tmpl);
  if (found.empty()) throw Error(what + " tensor '" + tmpl + "': no tensor in '" + n.file->path() + "' matches it");
  uint32_t L = r.layer.value_or(found.front());
  if (!std::binary_search(found.begin(), found.end(), L))
    throw Error("layer " + std::to_string(L) + " does not exist: '" + tmpl + "' has layers " + listLayers(found));
  if (layers.empty()) layers = found;
  layer = L;
  n.tensor = tmpl;
  n.tensor.replace(n.tensor.find("{layer}"), 7, std::to_string(L));
  return n;
}

// A model checkpoint holds parameters (…weight, …bias), not activations.
bool looksLikeCheckpoint(const SafetensorsFile& f) {
  size_t params = 0;
  for (const auto& t : f.tensors()) params += isParameterName(t.name);
  return params > 0 && params * 2 >= f.tensors().size();
}

void refuseParameters(const Named& n) {
  if (!n.file || !isParameterName(n.tensor)) return;
  throw Error(n.what + " tensor '" + excerpt(n.tensor, 120) + "' is a parameter of the model (a weight matrix), not " +
              (n.what == "Q" ? "queries" : n.what == "K" ? "keys" : "values") +
              " of a forward pass: an attention map needs the activations; " + kCaptureHint);
}

// Rows, heads and columns of a tensor read in a layout.
struct Reading {
  uint64_t heads, rows, cols;
};
Reading readAs(const std::vector<uint64_t>& shape, const std::string& layout) {
  if (shape.size() != 3) return {1, shape.size() == 2 ? shape[0] : 0, shape.empty() ? 0 : shape.back()};
  return layout == "hnd" ? Reading{shape[0], shape[1], shape[2]} : Reading{shape[1], shape[0], shape[2]};
}

// Why the tensors cannot be read in `layout`, or "" when they can.
std::string layoutProblem(const std::vector<const Named*>& ts, const std::string& layout, const QKRequest& r,
                          uint64_t queryBegin) {
  Reading q = readAs(ts[0]->shape(), layout), k = readAs(ts[1]->shape(), layout);
  for (const Named* t : ts) {
    Reading x = readAs(t->shape(), layout);
    if (x.heads > kMaxHeads)
      return t->what + " would have " + std::to_string(x.heads) + " heads (at most " + std::to_string(kMaxHeads) + ")";
  }
  if (q.heads % k.heads != 0)
    return "Q's " + std::to_string(q.heads) + " heads would not be a multiple of K's " + std::to_string(k.heads);
  if (ts.size() > 2) {
    Reading v = readAs(ts[2]->shape(), layout);
    if (v.rows != k.rows || v.heads != k.heads) return "V and K would differ in tokens or heads";
  }
  uint64_t qBegin = r.queryOffset ? *r.queryOffset : queryBegin;
  if (q.rows + qBegin != k.rows)
    return "Q would have " + std::to_string(q.rows) + " rows and K " + std::to_string(k.rows);
  if (r.tokenCount && k.rows != *r.tokenCount)
    return "there would be " + std::to_string(k.rows) + " tokens, but the token file has " + std::to_string(*r.tokenCount);
  return "";
}

std::string describeReading(const Named& t, const std::string& layout) {
  Reading x = readAs(t.shape(), layout);
  return std::to_string(x.heads) + " heads of " + std::to_string(x.rows) + " tokens";
}

// The layout of the 3-D tensors: the user's, the metadata's, or the one reading the shapes
// allow; never a guess between two that both fit.
std::string decideLayout(const std::vector<const Named*>& ts, const QKRequest& r, const CaptureMetadata* meta,
                         std::string& note) {
  bool any3 = false;
  for (const Named* t : ts) any3 = any3 || t->shape().size() == 3;
  if (!any3) return "auto";
  if (r.layout != "auto" && r.layout != "hnd" && r.layout != "nhd")
    throw Error("unknown --layout '" + r.layout + "': use auto, hnd or nhd");
  uint64_t queryBegin = meta ? meta->queryBegin : 0;
  if (meta) {
    if (r.layout != "auto" && r.layout != meta->layout && !r.overrideMetadata)
      throw Error("--layout " + r.layout + " contradicts the file's metadata (" + meta->layout +
                  "): give --override-metadata to read it anyway");
    note = "layout " + (r.layout != "auto" ? r.layout : meta->layout) + " (from the file's metadata)";
    return r.layout != "auto" ? r.layout : meta->layout;
  }
  if (r.layout != "auto") {
    note = "layout " + r.layout + " (--layout)";
    return r.layout;
  }
  std::string hnd = layoutProblem(ts, "hnd", r, queryBegin), nhd = layoutProblem(ts, "nhd", r, queryBegin);
  const Named& q = *ts[0];
  if (hnd.empty() && !nhd.empty()) {
    note = "layout hnd: [heads, n, d] is the only reading that fits (as nhd, " + nhd + ")";
    return "hnd";
  }
  if (nhd.empty() && !hnd.empty()) {
    note = "layout nhd: [n, heads, d] is the only reading that fits (as hnd, " + hnd + ")";
    return "nhd";
  }
  if (hnd.empty())
    throw Error("Q has shape " + shapeText(q.file->tensor(q.tensor).shape) + ", which reads as [heads, n, d] (" +
                describeReading(q, "hnd") + ") or as [n, heads, d] (" + describeReading(q, "nhd") +
                "); say which with --layout hnd or --layout nhd" +
                (endsWith(q.tensor, "hook_q") ? " (TransformerLens hook_q is [pos, head, d]: --layout nhd)" : "") +
                ", or give --token-file");
  throw Error("Q " + shapeText(q.file->tensor(q.tensor).shape) + " and K " +
              shapeText(ts[1]->file->tensor(ts[1]->tensor).shape) + " fit neither layout: as [heads, n, d] " + hnd +
              "; as [n, heads, d] " + nhd);
}

HeadSource openNamed(const Named& n, const std::string& layout) {
  if (!n.file) return HeadSource::open(n.arg, n.what, layout);
  return HeadSource::fromTensor(n.file, n.tensor, n.what, layout);
}

}  // namespace

bool isParameterName(const std::string& tensor) {
  return endsWith(tensor, ".weight") || endsWith(tensor, ".bias") || endsWith(tensor, "/weight") ||
         endsWith(tensor, "/bias") || tensor == "weight" || tensor == "bias";
}

const LayerMetadata* QKSources::layerMetadata() const {
  if (!metadata) return nullptr;
  if (layer) return metadata->layer(*layer);
  return metadata->layers.size() == 1 ? &metadata->layers.front() : metadata->layerOfTensor(q.name());
}

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

QKSources openQK(const QKRequest& r, bool needV) {
  std::vector<uint32_t> layers;
  std::optional<uint32_t> layer;
  std::optional<Named> q, k, v;
  std::string desc;
  if (!r.qkvPath.empty()) {
    if (!r.qPath.empty() || !r.kPath.empty() || !r.vPath.empty())
      throw Error("give either --qkv FILE or --q/--k/--v, not both");
    auto file = std::make_shared<const SafetensorsFile>(r.qkvPath);
    std::vector<LayerTensors> groups = findLayerTensors(file->tensors());
    if (groups.empty()) {
      if (looksLikeCheckpoint(*file))
        throw Error("'" + r.qkvPath + "' is a model checkpoint (its tensors are parameters such as '" +
                    excerpt(file->tensors().front().name, 80) + "'), not captured queries and keys; " + kCaptureHint);
      std::string names;
      for (size_t i = 0; i < file->tensors().size() && i < 12; ++i)
        names += (i ? ", " : "") + excerpt(file->tensors()[i].name);
      throw Error("'" + r.qkvPath + "' has no tensors named like Q and K (…q, …k or q_proj, k_proj); it has: " +
                  (names.empty() ? "none" : names) + ". Name them with --q FILE:TENSOR --k FILE:TENSOR");
    }
    for (const auto& g : groups)
      if (g.layer) layers.push_back(*g.layer);
    const LayerTensors* pick = &groups.front();
    if (r.layer) {
      pick = nullptr;
      for (const auto& g : groups)
        if (g.layer == r.layer) pick = &g;
      if (!pick)
        throw Error("layer " + std::to_string(*r.layer) + " does not exist: '" + r.qkvPath + "' has " +
                    (layers.empty() ? "no layer numbers" : "layers " + listLayers(layers)));
    }
    layer = pick->layer;
    q = Named{"Q", r.qkvPath, file, pick->q};
    k = Named{"K", r.qkvPath, file, pick->k};
    if (!pick->v.empty() && needV) v = Named{"V", r.qkvPath, file, pick->v};
    desc = r.qkvPath + (pick->prefix.empty() ? "" : " " + pick->prefix);
  } else {
    if (r.qPath.empty() || r.kPath.empty())
      throw Error("give both --q and --k (.npy files of shape [n, d], or FILE.safetensors:TENSOR), or --qkv FILE");
    q = resolveArg(r.qPath, "Q", r, layers, layer);
    k = resolveArg(r.kPath, "K", r, layers, layer);
    if (!r.vPath.empty()) v = resolveArg(r.vPath, "V", r, layers, layer);
    desc = "Q " + r.qPath + ", K " + r.kPath;
    if (layer) {
      size_t at;
      while ((at = desc.find("{layer}")) != std::string::npos) desc.replace(at, 7, std::to_string(*layer));
    }
  }
  if (r.layer && !layer) throw Error("--layer " + std::to_string(*r.layer) + " was given, but the input has no layers");
  for (const Named* n : {&*q, &*k, v ? &*v : nullptr})
    if (n) refuseParameters(*n);
  if (!v && needV && !r.vPath.empty()) throw Error("internal: V was named but not opened");

  // The capture's metadata, when Q and K come from one file that has it.
  std::shared_ptr<const CaptureMetadata> meta;
  if (q->file && k->file && q->file->path() == k->file->path())
    if (auto m = readCaptureMetadata(*q->file)) meta = std::make_shared<const CaptureMetadata>(std::move(*m));

  std::string note;
  std::vector<const Named*> ts{&*q, &*k};
  if (v) ts.push_back(&*v);
  std::string layout = decideLayout(ts, r, meta.get(), note);
  HeadSource qs = openNamed(*q, layout), ks = openNamed(*k, layout);
  std::optional<HeadSource> vs;
  if (v) vs = openNamed(*v, layout);

  if (qs.cols() != ks.cols())
    throw Error("Q has d = " + std::to_string(qs.cols()) + " but K has d = " + std::to_string(ks.cols()) +
                ": their last dimensions must match");
  if (ks.rows() > kMaxTokens) throw Error("too many tokens: " + std::to_string(ks.rows()));
  if (qs.cols() > kMaxHeadDim)
    throw Error("head dimension " + std::to_string(qs.cols()) + " is larger than the supported " + std::to_string(kMaxHeadDim));
  if (vs && (vs->rows() != ks.rows() || vs->cols() != qs.cols()))
    throw Error("V has shape [" + std::to_string(vs->rows()) + ", " + std::to_string(vs->cols()) + "], expected [" +
                std::to_string(ks.rows()) + ", " + std::to_string(qs.cols()) + "] like K");
  if (!vs && needV) throw Error("this needs values too: give --v v.npy (or a file with V tensors)");

  // Which positions Q holds: all of them, or the last rows (a capture of the last queries).
  uint64_t queryBegin = 0;
  if (r.queryOffset) {
    if (meta && meta->queryBegin != *r.queryOffset && !r.overrideMetadata)
      throw Error("--query-offset " + std::to_string(*r.queryOffset) + " contradicts the file's metadata (" +
                  std::to_string(meta->queryBegin) + "): give --override-metadata to read it anyway");
    queryBegin = *r.queryOffset;
  } else if (meta) {
    queryBegin = meta->queryBegin;
  }
  if (qs.rows() + queryBegin != ks.rows()) {
    if (qs.rows() < ks.rows() && queryBegin == 0)
      throw Error("Q has " + std::to_string(qs.rows()) + " rows but K has " + std::to_string(ks.rows()) +
                  ": if Q holds the last " + std::to_string(qs.rows()) + " queries, give --query-offset " +
                  std::to_string(ks.rows() - qs.rows()));
    throw Error("Q has " + std::to_string(qs.rows()) + " rows" +
                (queryBegin ? " from position " + std::to_string(queryBegin) : "") + " but K has " +
                std::to_string(ks.rows()) + (queryBegin ? ": the queries must run to the last position"
                                                        : ": attnscope shows self-attention maps, n x n"));
  }

  QKSources s{qs, ks, vs, qs.heads(), layers, layer, desc, note, meta, uint32_t(queryBegin)};
  if (const LayerMetadata* lm = s.layerMetadata()) {
    auto mismatch = [&](const std::string& what, uint64_t file, uint64_t recorded) {
      if (file != recorded && !r.overrideMetadata)
        throw Error("the tensors have " + std::to_string(file) + " " + what + " but the file's metadata for layer " +
                    std::to_string(lm->layer) + " says " + std::to_string(recorded) +
                    ": the file is inconsistent (give --override-metadata to read it anyway)");
    };
    mismatch("query heads", qs.heads(), lm->heads);
    mismatch("key heads", ks.heads(), lm->kvHeads);
    mismatch("dimensions per head", qs.cols(), lm->headDim);
    mismatch("tokens", ks.rows(), meta->tokens);
  }
  s.selectHead(r.head);
  return s;
}

}  // namespace attnscope
