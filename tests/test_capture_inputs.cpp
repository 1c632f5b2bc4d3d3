// What a capture's files decide before any GPU work, and what they refuse: the capture
// metadata (per layer mask, window, scale, soft cap, rotary), options checked against it,
// the layout of 3-D tensors decided only when the shapes (or metadata) allow one reading,
// model parameters refused as Q/K, and captures of the last queries. Plain C++: these
// tests also run under AddressSanitizer and UndefinedBehaviorSanitizer.
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <functional>

#include "compute/capture_metadata.h"
#include "compute/qk_sources.h"
#include "compute/safetensors.h"
#include "engine/error.h"
#include "tests/test_files.h"

namespace fs = std::filesystem;

namespace attnscope::test {
namespace {

fs::path dir() {
  return test::scratchDir("capture");
}

std::string errorOf(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

#define EXPECT_ERROR(stmt, needle)                                              \
  do {                                                                          \
    std::string e_ = errorOf([&] { stmt; });                                    \
    EXPECT_NE(e_.find(needle), std::string::npos) << "error was: " << e_;       \
    EXPECT_EQ(e_.find('\n'), std::string::npos) << "one line: " << e_;          \
  } while (0)

// Metadata as export_qk writes it: layer 0 causal, layer 1 a sliding window of 5 with
// Gemma-2's soft cap, both rotated already; 2 query heads, 1 KV head, d 4, 10 tokens.
std::string gemmaLikeMetadata(const std::string& extra = "", const std::string& layer1 = "") {
  return R"({"version": 1, "producer": "test", "model": "tiny", "architecture": "Gemma2ForCausalLM",
  "model_type": "gemma2", "tokens": 10, "layout": "hnd")" + extra + R"(, "layers": [
  {"layer": 0, "q": "layers.0.q", "k": "layers.0.k", "v": "layers.0.v", "heads": 2, "kv_heads": 1, "head_dim": 4,
   "mask": "causal", "scale": 0.25, "softcap": 50.0,
   "rotary": {"applied": true, "base": 10000.0, "dims": 4, "style": "halves", "scaling": null}},
  {"layer": 1, "q": "layers.1.q", "k": "layers.1.k", "v": "layers.1.v", "heads": 2, "kv_heads": 1, "head_dim": 4,
   "mask": "sliding_window", "window": 5, "scale": 0.25, "softcap": 50.0,
   "rotary": {"applied": true, "base": 10000.0, "dims": 4, "style": "halves", "scaling": null})" + layer1 + "}]}";
}

TEST(CaptureMetadata, ParsesEveryLayerField) {
  CaptureMetadata m = parseCaptureMetadata(gemmaLikeMetadata(), "f");
  EXPECT_EQ(m.tokens, 10u);
  EXPECT_EQ(m.modelType, "gemma2");
  ASSERT_EQ(m.layers.size(), 2u);
  const LayerMetadata* l1 = m.layer(1);
  ASSERT_NE(l1, nullptr);
  EXPECT_EQ(l1->mask, MaskKind::WindowCausal);
  EXPECT_EQ(l1->window, 5u);
  EXPECT_DOUBLE_EQ(l1->scale, 0.25);
  ASSERT_TRUE(l1->softcap);
  EXPECT_DOUBLE_EQ(*l1->softcap, 50.0);
  ASSERT_TRUE(l1->rotary);
  EXPECT_TRUE(l1->rotary->applied);
  EXPECT_EQ(m.layer(0)->mask, MaskKind::Causal);
  EXPECT_EQ(m.layer(7), nullptr);
  EXPECT_EQ(m.layerOfTensor("layers.1.k"), l1);
  std::string line = describeLayerMetadata(*l1);
  EXPECT_NE(line.find("sliding window 5"), std::string::npos) << line;
  EXPECT_NE(line.find("soft cap 50"), std::string::npos) << line;
}

TEST(CaptureMetadata, MalformedFieldsAreNamed) {
  EXPECT_ERROR(parseCaptureMetadata("{not json", "f"), "not valid JSON");
  EXPECT_ERROR(parseCaptureMetadata(R"({"version": 7, "tokens": 3, "layers": []})", "f"), "update attnscope");
  EXPECT_ERROR(parseCaptureMetadata(gemmaLikeMetadata(R"(, "layout": "hdn")"), "f"), "'layout'");
  std::string m = gemmaLikeMetadata();
  auto with = [&](const std::string& from, const std::string& to) {
    std::string s = m;
    s.replace(s.find(from), from.size(), to);
    return s;
  };
  EXPECT_ERROR(parseCaptureMetadata(with("\"mask\": \"causal\"", "\"mask\": \"diagonal\""), "f"), "'mask'");
  EXPECT_ERROR(parseCaptureMetadata(with("\"window\": 5", "\"window\": 0"), "f"), "'window'");
  EXPECT_ERROR(parseCaptureMetadata(with("\"scale\": 0.25", "\"scale\": -1"), "f"), "'scale'");
  EXPECT_ERROR(parseCaptureMetadata(with("\"softcap\": 50.0", "\"softcap\": \"big\""), "f"), "'softcap'");
  EXPECT_ERROR(parseCaptureMetadata(with("\"dims\": 4", "\"dims\": 3"), "f"), "'dims'");
  EXPECT_ERROR(parseCaptureMetadata(with("\"kv_heads\": 1", "\"kv_heads\": 3"), "f"), "not a multiple");
  EXPECT_ERROR(parseCaptureMetadata(with("\"layer\": 1", "\"layer\": 0"), "f"), "appears twice");
}

TEST(ResolveAttention, MetadataIsAppliedAndContradictionsRefused) {
  CaptureMetadata m = parseCaptureMetadata(gemmaLikeMetadata(), "f");
  const LayerMetadata* l0 = m.layer(0);
  const LayerMetadata* l1 = m.layer(1);
  ResolvedAttention a = resolveAttention({}, l1, 10, 4, 0);
  EXPECT_EQ(a.spec.mask, MaskKind::WindowCausal);
  EXPECT_EQ(a.spec.window, 5u);
  EXPECT_DOUBLE_EQ(*a.spec.scale, 0.25);
  EXPECT_DOUBLE_EQ(*a.spec.softcap, 50.0);
  EXPECT_FALSE(a.rope);  // already rotated
  EXPECT_EQ(resolveAttention({}, l0, 10, 4, 0).spec.mask, MaskKind::Causal);

  AttentionRequest r;
  r.mask = "none";
  EXPECT_ERROR(resolveAttention(r, l0, 10, 4, 0), "contradicts the file's metadata for layer 0 (causal");
  r.overrideMetadata = true;
  EXPECT_EQ(resolveAttention(r, l0, 10, 4, 0).spec.mask, MaskKind::None);
  r = {};
  r.mask = "causal";  // agreeing options are fine
  EXPECT_EQ(resolveAttention(r, l0, 10, 4, 0).spec.mask, MaskKind::Causal);
  r = {};
  r.scale = 0.5;
  EXPECT_ERROR(resolveAttention(r, l0, 10, 4, 0), "--scale 0.5 contradicts");
  r = {};
  r.softcap = 30;
  EXPECT_ERROR(resolveAttention(r, l1, 10, 4, 0), "--softcap 30 contradicts");
  r = {};
  r.rope = true;
  EXPECT_ERROR(resolveAttention(r, l0, 10, 4, 0), "already rotated");
  r = {};
  r.window = 3;  // narrowing the model's window is a different map
  EXPECT_ERROR(resolveAttention(r, l1, 10, 4, 0), "contradicts");
  r = {};
  r.temperature = 0.5;  // the temperature is the viewer's knob, not the model's
  EXPECT_DOUBLE_EQ(resolveAttention(r, l1, 10, 4, 0).spec.temperature, 0.5);
}

TEST(ResolveAttention, CapturesBeforeRotaryAreRotatedOnLoad) {
  std::string text = gemmaLikeMetadata();
  text.replace(text.find("\"applied\": true"), 15, "\"applied\": false");
  CaptureMetadata m = parseCaptureMetadata(text, "f");
  ResolvedAttention a = resolveAttention({}, m.layer(0), 10, 4, 0);
  EXPECT_TRUE(a.rope);
  EXPECT_DOUBLE_EQ(a.ropeBase, 10000.0);
  EXPECT_EQ(a.ropeDims, 4u);
  AttentionRequest r;
  r.rope = true;
  r.ropeBase = 500000;
  EXPECT_ERROR(resolveAttention(r, m.layer(0), 10, 4, 0), "contradicts");
  text.replace(text.find("\"scaling\": null"), 15, "\"scaling\": \"llama3\"");
  CaptureMetadata scaled = parseCaptureMetadata(text, "f");
  EXPECT_ERROR(resolveAttention({}, scaled.layer(0), 10, 4, 0), "llama3 rope scaling");
}

TEST(ResolveAttention, OptionsThatDoNothingAreErrors) {
  AttentionRequest r;
  r.mask = "none";
  r.window = 64;
  EXPECT_ERROR(resolveAttention(r, nullptr, 100, 8, 0), "--mask none has no window");
  r = {};
  r.ropeBase = 500000;
  EXPECT_ERROR(resolveAttention(r, nullptr, 100, 8, 0), "--rope-base does nothing without --rope");
  r = {};
  r.window = 64;  // no mask given: a causal window
  EXPECT_EQ(resolveAttention(r, nullptr, 100, 8, 0).spec.mask, MaskKind::WindowCausal);
  ResolvedAttention plain = resolveAttention({}, nullptr, 100, 8, 0);
  EXPECT_EQ(plain.spec.mask, MaskKind::Causal);
  EXPECT_FALSE(plain.spec.scale);
  EXPECT_FALSE(plain.spec.softcap);
}

// Q and K as [n, heads, d] (TransformerLens's hook_q layout) or [heads, n, d].
QKSources openFile(const fs::path& f, const std::string& q, const std::string& k, const std::string& layout = "auto",
                   std::optional<uint64_t> tokens = {}) {
  QKRequest r;
  r.qPath = f.string() + ":" + q;
  r.kPath = f.string() + ":" + k;
  r.layout = layout;
  r.tokenCount = tokens;
  return openQK(r, false);
}

TEST(QKLayout, OnlyAnUnambiguousReadingIsTaken) {
  fs::path f = dir() / "layouts.safetensors";
  writeSafetensors(f, {patternTensor("blocks.0.attn.hook_q", {1, 6, 4, 8}), patternTensor("blocks.0.attn.hook_k", {1, 6, 4, 8}),
                       patternTensor("gqa.q", {5, 4, 8}), patternTensor("gqa.k", {5, 2, 8}),
                       patternTensor("long.q", {300, 4, 8}), patternTensor("long.k", {300, 4, 8}),
                       patternTensor("hnd.q", {4, 300, 8}), patternTensor("hnd.k", {2, 300, 8}),
                       patternTensor("odd.q", {3, 5, 8}), patternTensor("odd.k", {4, 6, 8})});
  // [6, 4, 8] is 6 heads of 4 tokens or 4 heads of 6 tokens: refused, naming both and the option.
  EXPECT_ERROR(openFile(f, "blocks.0.attn.hook_q", "blocks.0.attn.hook_k"), "--layout hnd or --layout nhd");
  EXPECT_ERROR(openFile(f, "blocks.0.attn.hook_q", "blocks.0.attn.hook_k"), "TransformerLens");
  EXPECT_EQ(openFile(f, "blocks.0.attn.hook_q", "blocks.0.attn.hook_k", "nhd").n(), 6u);
  EXPECT_EQ(openFile(f, "blocks.0.attn.hook_q", "blocks.0.attn.hook_k", "hnd").n(), 4u);
  // The token file's count tells them apart.
  QKSources byTokens = openFile(f, "blocks.0.attn.hook_q", "blocks.0.attn.hook_k", "auto", 6);
  EXPECT_EQ(byTokens.n(), 6u);
  EXPECT_EQ(byTokens.heads, 4u);
  // Grouped-query [n, heads, d]: as [heads, n, d] Q would have 4 tokens and K 2, so nhd.
  QKSources gqa = openFile(f, "gqa.q", "gqa.k");
  EXPECT_EQ(gqa.n(), 5u);
  EXPECT_EQ(gqa.heads, 4u);
  EXPECT_EQ(gqa.k.heads(), 2u);
  EXPECT_NE(gqa.layoutNote.find("only reading"), std::string::npos) << gqa.layoutNote;
  // 300 heads is more than any model has.
  EXPECT_EQ(openFile(f, "long.q", "long.k").n(), 300u);
  EXPECT_EQ(openFile(f, "hnd.q", "hnd.k").n(), 300u);
  EXPECT_ERROR(openFile(f, "odd.q", "odd.k"), "fit neither layout");
}

TEST(QKLayout, MetadataDecidesAndIsCheckedAgainstTheTensors) {
  fs::path f = dir() / "meta.safetensors";
  std::vector<NamedTensor> ts;
  for (int L = 0; L < 2; ++L) {
    std::string p = "layers." + std::to_string(L) + ".";
    ts.push_back(patternTensor(p + "q", {2, 10, 4}, float(L)));
    ts.push_back(patternTensor(p + "k", {1, 10, 4}, float(L) + 0.5f));
    ts.push_back(patternTensor(p + "v", {1, 10, 4}, float(L) + 0.7f));
  }
  writeSafetensors(f, ts, gemmaLikeMetadata());
  QKRequest r;
  r.qkvPath = f.string();
  r.layer = 1;
  QKSources s = openQK(r, false);
  ASSERT_NE(s.layerMetadata(), nullptr);
  EXPECT_EQ(s.layerMetadata()->window, 5u);
  EXPECT_NE(s.layoutNote.find("metadata"), std::string::npos);
  r.layout = "nhd";
  EXPECT_ERROR(openQK(r, false), "--layout nhd contradicts the file's metadata");

  fs::path bad = dir() / "meta-bad.safetensors";
  std::string lying = gemmaLikeMetadata();
  lying.replace(lying.find("\"heads\": 2"), 10, "\"heads\": 3");
  writeSafetensors(bad, ts, lying);
  QKRequest rb;
  rb.qkvPath = bad.string();
  EXPECT_ERROR(openQK(rb, false), "metadata for layer 0 says 3");
}

TEST(QKSourcesRefuse, ModelParametersAreNotQueries) {
  fs::path f = dir() / "checkpoint.safetensors";
  writeSafetensors(f, {patternTensor("model.embed_tokens.weight", {16, 8}),
                       patternTensor("model.layers.0.self_attn.q_proj.weight", {8, 8}),
                       patternTensor("model.layers.0.self_attn.k_proj.weight", {8, 8}),
                       patternTensor("model.layers.0.self_attn.q_proj.bias", {8})});
  QKRequest r;
  r.qPath = f.string() + ":model.layers.0.self_attn.q_proj.weight";
  r.kPath = f.string() + ":model.layers.0.self_attn.k_proj.weight";
  EXPECT_ERROR(openQK(r, false), "is a parameter of the model");
  EXPECT_ERROR(openQK(r, false), "tools/export_qk.py");
  QKRequest whole;
  whole.qkvPath = f.string();
  EXPECT_ERROR(openQK(whole, false), "is a model checkpoint");
  EXPECT_TRUE(isParameterName("h.0.attn.c_attn.weight"));
  EXPECT_FALSE(isParameterName("layers.0.q"));
}

TEST(QKSourcesRefuse, LastQueriesNeedTheirOffset) {
  fs::path f = dir() / "last.safetensors";
  writeSafetensors(f, {patternTensor("q", {2, 3, 4}), patternTensor("k", {2, 10, 4})});
  QKRequest r;
  r.qPath = f.string() + ":q";
  r.kPath = f.string() + ":k";
  r.layout = "hnd";
  EXPECT_ERROR(openQK(r, false), "give --query-offset 7");
  r.queryOffset = 7;
  QKSources s = openQK(r, false);
  EXPECT_EQ(s.queryBegin, 7u);
  EXPECT_EQ(s.n(), 10u);
  EXPECT_EQ(s.q.rows(), 3u);
  r.queryOffset = 5;
  EXPECT_ERROR(openQK(r, false), "must run to the last position");
}

}  // namespace
}  // namespace attnscope::test
