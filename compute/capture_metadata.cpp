#include "compute/capture_metadata.h"

#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "compute/safetensors.h"
#include "compute/tokens.h"
#include "engine/error.h"

namespace attnscope {

namespace {

using nlohmann::json;

std::string num(double v) {
  char b[32];
  std::snprintf(b, sizeof b, "%.6g", v);
  return b;
}

// Typed field readers: every field is checked, and a wrong one is named in the error.
struct Reader {
  const json& j;
  std::string where;
  const json* find(const char* key) const {
    auto it = j.find(key);
    return it == j.end() || it->is_null() ? nullptr : &*it;
  }
  [[noreturn]] void bad(const char* key, const char* want) const {
    throw Error(where + ": metadata field '" + key + "' is missing or not " + want);
  }
  std::string str(const char* key, bool required = true) const {
    const json* v = find(key);
    if (!v) {
      if (required) bad(key, "a string");
      return "";
    }
    if (!v->is_string()) bad(key, "a string");
    return v->get<std::string>();
  }
  uint64_t count(const char* key, uint64_t lo, uint64_t hi) const {
    const json* v = find(key);
    if (!v || !v->is_number_unsigned() || v->get<uint64_t>() < lo || v->get<uint64_t>() > hi)
      bad(key, ("a whole number from " + std::to_string(lo) + " to " + std::to_string(hi)).c_str());
    return v->get<uint64_t>();
  }
  std::optional<double> positive(const char* key) const {
    const json* v = find(key);
    if (!v) return std::nullopt;
    if (!v->is_number() || !std::isfinite(v->get<double>()) || !(v->get<double>() > 0) || v->get<double>() > 1e30)
      bad(key, "a positive number");
    return v->get<double>();
  }
};

}  // namespace

const LayerMetadata* CaptureMetadata::layer(uint32_t number) const {
  for (const auto& l : layers)
    if (l.layer == number) return &l;
  return nullptr;
}

const LayerMetadata* CaptureMetadata::layerOfTensor(const std::string& tensor) const {
  for (const auto& l : layers)
    if (l.q == tensor || l.k == tensor) return &l;
  return nullptr;
}

CaptureMetadata parseCaptureMetadata(const std::string& text, const std::string& where) {
  std::string at = where + " (its attnscope metadata)";
  json j;
  try {
    j = json::parse(text);
  } catch (const json::exception&) {
    throw Error(at + " is not valid JSON");
  }
  if (!j.is_object()) throw Error(at + " is not a JSON object");
  Reader r{j, at};
  CaptureMetadata m;
  m.version = uint32_t(r.count("version", 1, 1000000));
  if (m.version > kCaptureMetadataVersion)
    throw Error(where + " was written with capture metadata version " + std::to_string(m.version) +
                "; this attnscope reads up to version " + std::to_string(kCaptureMetadataVersion) + ": update attnscope");
  m.producer = excerpt(r.str("producer", false), 120);
  m.model = excerpt(r.str("model", false), 200);
  m.architecture = excerpt(r.str("architecture", false), 120);
  m.modelType = excerpt(r.str("model_type", false), 60);
  m.tokens = r.count("tokens", 1, kMaxTokens);
  m.queryBegin = r.find("query_begin") ? r.count("query_begin", 0, m.tokens - 1) : 0;
  m.layout = r.find("layout") ? r.str("layout") : "hnd";
  if (m.layout != "hnd" && m.layout != "nhd") r.bad("layout", "hnd or nhd");
  const json* layers = r.find("layers");
  if (!layers || !layers->is_array() || layers->empty()) r.bad("layers", "a non-empty array");
  for (const json& lj : *layers) {
    if (!lj.is_object()) r.bad("layers", "an array of objects");
    Reader lr{lj, at};
    LayerMetadata l;
    l.layer = uint32_t(lr.count("layer", 0, 1u << 20));
    lr.where = at + ", layer " + std::to_string(l.layer);
    if (m.layer(l.layer)) throw Error(lr.where + " appears twice");
    l.q = lr.str("q");
    l.k = lr.str("k");
    l.v = lr.str("v", false);
    l.heads = uint32_t(lr.count("heads", 1, 4096));
    l.kvHeads = uint32_t(lr.count("kv_heads", 1, 4096));
    if (l.heads % l.kvHeads != 0)
      throw Error(lr.where + ": " + std::to_string(l.heads) + " query heads are not a multiple of " +
                  std::to_string(l.kvHeads) + " key heads");
    l.headDim = uint32_t(lr.count("head_dim", 1, kMaxHeadDim));
    std::string mask = lr.str("mask");
    if (mask == "causal") l.mask = MaskKind::Causal;
    else if (mask == "bidirectional") l.mask = MaskKind::None;
    else if (mask == "sliding_window") {
      l.mask = MaskKind::WindowCausal;
      l.window = uint32_t(lr.count("window", 1, UINT32_MAX));
    } else
      lr.bad("mask", "causal, bidirectional or sliding_window");
    std::optional<double> scale = lr.positive("scale");
    if (!scale) lr.bad("scale", "a positive number");
    l.scale = *scale;
    l.softcap = lr.positive("softcap");
    if (const json* rot = lr.find("rotary")) {
      if (!rot->is_object()) lr.bad("rotary", "an object or null");
      Reader rr{*rot, lr.where + ", rotary"};
      RotaryInfo ri;
      const json* applied = rr.find("applied");
      if (!applied || !applied->is_boolean()) rr.bad("applied", "true or false");
      ri.applied = applied->get<bool>();
      std::optional<double> base = rr.positive("base");
      if (!base) rr.bad("base", "a positive number");
      ri.base = *base;
      ri.dims = uint32_t(rr.count("dims", 2, l.headDim));
      if (ri.dims % 2) rr.bad("dims", "even");
      std::string style = rr.str("style");
      if (style != "halves" && style != "interleaved") rr.bad("style", "halves or interleaved");
      ri.halves = style == "halves";
      ri.scaling = excerpt(rr.str("scaling", false), 60);
      l.rotary = ri;
    }
    m.layers.push_back(l);
  }
  return m;
}

std::optional<CaptureMetadata> readCaptureMetadata(const SafetensorsFile& file) {
  const std::string* text = file.metadata("attnscope");
  if (!text) return std::nullopt;
  return parseCaptureMetadata(*text, "'" + file.path() + "'");
}

std::string describeMask(MaskKind mask, uint32_t window) {
  switch (mask) {
    case MaskKind::None: return "bidirectional (no mask)";
    case MaskKind::Causal: return "causal";
    case MaskKind::WindowCausal: return "causal sliding window " + std::to_string(window);
    case MaskKind::WindowBoth: return "two-sided window " + std::to_string(window);
  }
  return "?";
}

std::string describeLayerMetadata(const LayerMetadata& m) {
  std::string s = std::to_string(m.heads) + " heads";
  if (m.kvHeads != m.heads) s += " (" + std::to_string(m.kvHeads) + " KV)";
  s += ", d " + std::to_string(m.headDim) + ", " + describeMask(m.mask, m.window) + ", scale " + num(m.scale);
  if (m.softcap) s += ", soft cap " + num(*m.softcap);
  if (!m.rotary) s += ", no rotary";
  else {
    s += std::string(", rotary ") + (m.rotary->applied ? "applied" : "not applied (attnscope applies it)") + " (base " +
         num(m.rotary->base) + ", " + std::to_string(m.rotary->dims) + " dims, " +
         (m.rotary->halves ? "halves" : "interleaved") +
         (m.rotary->scaling.empty() ? "" : ", " + m.rotary->scaling + " scaling") + ")";
  }
  return s;
}

namespace {

bool sameNumber(double a, double b) { return std::abs(a - b) <= 1e-6 * std::max(std::abs(a), std::abs(b)); }

}  // namespace

ResolvedAttention resolveAttention(const AttentionRequest& req, const LayerMetadata* meta, uint32_t n, uint32_t d,
                                   uint32_t queryBegin) {
  ResolvedAttention out;
  AttentionSpec& spec = out.spec;
  spec.n = n;
  spec.d = d;
  spec.queryBegin = queryBegin;
  spec.temperature = req.temperature;
  std::string layerName = meta ? "layer " + std::to_string(meta->layer) : "";
  auto contradicts = [&](const std::string& option, const std::string& recorded) {
    if (req.overrideMetadata) return;
    throw Error(option + " contradicts the file's metadata for " + layerName + " (" + recorded +
                ", as the model computed it): give --override-metadata to draw it anyway");
  };

  // Mask and window.
  if (req.mask) {
    spec.mask = parseMask(*req.mask, req.window.has_value());
    if (req.window) spec.window = *req.window;
    else if (spec.mask == MaskKind::WindowCausal || spec.mask == MaskKind::WindowBoth)
      throw Error("the '" + *req.mask + "' mask needs --window W");
  } else if (meta) {
    spec.mask = meta->mask;
    spec.window = meta->window;
    if (req.window) {
      // --window alone narrows (or widens) the model's own kind of mask.
      if (spec.mask == MaskKind::None)
        throw Error("--window needs a windowed mask, and " + layerName +
                    " is bidirectional: give --mask window-both --window W (with --override-metadata)");
      spec.mask = spec.mask == MaskKind::Causal ? MaskKind::WindowCausal : spec.mask;
      spec.window = *req.window;
    }
    out.fromMetadata.push_back(describeMask(meta->mask, meta->window));
  } else {
    spec.mask = req.window ? MaskKind::WindowCausal : MaskKind::Causal;
    if (req.window) spec.window = *req.window;
  }
  if (meta && (spec.mask != meta->mask || (spec.mask == MaskKind::WindowCausal && spec.window != meta->window)))
    contradicts("--mask " + describeMask(spec.mask, spec.window), describeMask(meta->mask, meta->window));

  // Scale and soft cap.
  if (req.scale) spec.scale = *req.scale;
  else if (meta) spec.scale = meta->scale;
  if (meta && req.scale && !sameNumber(*req.scale, meta->scale))
    contradicts("--scale " + num(*req.scale), "scale " + num(meta->scale));
  if (meta && !req.scale) out.fromMetadata.push_back("scale " + num(meta->scale));
  if (req.softcap) spec.softcap = *req.softcap;
  else if (meta && meta->softcap) spec.softcap = meta->softcap;
  if (meta && req.softcap && !(meta->softcap && sameNumber(*req.softcap, *meta->softcap)))
    contradicts("--softcap " + num(*req.softcap), meta->softcap ? "soft cap " + num(*meta->softcap) : "no soft cap");
  if (meta && meta->softcap && !req.softcap) out.fromMetadata.push_back("soft cap " + num(*meta->softcap));

  // Rotary: options only make sense with --rope, and --rope only on Q and K not yet rotated.
  if (!req.rope && (req.ropeBase || req.ropeDims || req.ropeStyle))
    throw Error(std::string(req.ropeBase ? "--rope-base" : req.ropeDims ? "--rope-dims" : "--rope-style") +
                " does nothing without --rope");
  if (req.ropeStyle && *req.ropeStyle != "halves" && *req.ropeStyle != "interleaved")
    throw Error("unknown --rope-style '" + *req.ropeStyle + "': use halves or interleaved");
  if (req.rope) {
    out.rope = true;
    out.ropeBase = req.ropeBase.value_or(meta && meta->rotary ? meta->rotary->base : 10000.0);
    out.ropeDims = req.ropeDims.value_or(meta && meta->rotary ? meta->rotary->dims : 0);
    out.ropeHalves = req.ropeStyle ? *req.ropeStyle == "halves" : !(meta && meta->rotary) || meta->rotary->halves;
    if (meta && meta->rotary && meta->rotary->applied)
      contradicts("--rope", "Q and K are already rotated");
    if (meta && !meta->rotary) contradicts("--rope", "this model has no rotary embedding");
    if (meta && meta->rotary && !meta->rotary->applied &&
        (!sameNumber(out.ropeBase, meta->rotary->base) || out.ropeDims != meta->rotary->dims ||
         out.ropeHalves != meta->rotary->halves))
      contradicts("--rope-base/--rope-dims/--rope-style", "rotary base " + num(meta->rotary->base) + ", " +
                                                            std::to_string(meta->rotary->dims) + " dims");
  } else if (meta && meta->rotary && !meta->rotary->applied) {
    // Captured before rotary: apply it as the model did, unless that cannot be reproduced.
    if (!meta->rotary->scaling.empty())
      throw Error(layerName + " was captured before rotary embedding with " + meta->rotary->scaling +
                  " rope scaling, which attnscope cannot reproduce: capture it again without --pre-rotary");
    out.rope = true;
    out.ropeBase = meta->rotary->base;
    out.ropeDims = meta->rotary->dims;
    out.ropeHalves = meta->rotary->halves;
    out.fromMetadata.push_back("rotary applied on load");
  }
  if (out.rope && out.ropeDims > d) throw Error("--rope-dims " + std::to_string(out.ropeDims) + " is more than d = " + std::to_string(d));
  spec.validate();
  return out;
}

}  // namespace attnscope
