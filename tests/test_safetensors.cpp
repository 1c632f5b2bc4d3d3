// .safetensors parsing: valid F32 / F16 / BF16 tensors read back exactly, and every kind of
// hostile file (truncated, lying lengths and offsets, overlaps, unknown dtypes, overflowing
// shapes, non-JSON headers, NaN) gets one error line saying what and where.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>

#include "compute/safetensors.h"
#include "engine/error.h"
#include "tests/test_files.h"

namespace fs = std::filesystem;

namespace attnscope::test {
namespace {

fs::path tmpFile(const std::string& name) {
  return test::scratchDir("st") / name;
}

// A file from a header text and data bytes; headerLen overrides the true length.
fs::path writeFile(const std::string& name, const std::string& header, const std::string& data,
                   int64_t headerLen = -1) {
  fs::path p = tmpFile(name);
  std::ofstream out(p, std::ios::binary);
  uint64_t n = headerLen < 0 ? header.size() : uint64_t(headerLen);
  for (int i = 0; i < 8; ++i) out.put(char((n >> (8 * i)) & 0xff));
  out << header << data;
  return p;
}

std::string bytesOf(const std::vector<float>& v) {
  return std::string(reinterpret_cast<const char*>(v.data()), v.size() * 4);
}

std::string errorOf(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(Safetensors, ReadsF32F16AndBF16) {
  std::vector<float> q = {0.5f, -1.25f, 3.0f, 4.5f, 0.0f, -0.75f};
  // F16 1.0 = 0x3c00, -2.0 = 0xc000; BF16 1.0 = 0x3f80, -0.5 = 0xbf00.
  std::string f16("\x00\x3c\x00\xc0", 4), bf16("\x80\x3f\x00\xbf", 4);
  std::string header = R"({"__metadata__": {"format": "pt"},)"
                       R"("q": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 24]},)"
                       R"("h": {"dtype": "F16", "shape": [2], "data_offsets": [24, 28]},)"
                       R"("b": {"dtype": "BF16", "shape": [1, 2], "data_offsets": [28, 32]}})";
  fs::path p = writeFile("ok.safetensors", header, bytesOf(q) + f16 + bf16);
  SafetensorsFile f(p.string());
  ASSERT_EQ(f.tensors().size(), 3u);
  EXPECT_EQ(f.read("q"), q);
  EXPECT_EQ(f.read("h"), (std::vector<float>{1.0f, -2.0f}));
  EXPECT_EQ(f.read("b"), (std::vector<float>{1.0f, -0.5f}));
  EXPECT_EQ(f.tensor("q").shape, (std::vector<uint64_t>{2, 3}));
  EXPECT_NE(errorOf([&] { f.read("k"); }).find("has no tensor 'k'; it has: q, h, b"), std::string::npos);
}

TEST(Safetensors, HostileFilesGetOneClearLine) {
  std::string good = R"({"q": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 16]}})";
  std::string data = bytesOf({1, 2, 3, 4});
  struct Case {
    std::string name, header, data;
    int64_t headerLen;
    std::string expect;
  };
  std::vector<Case> cases = {
      {"len-lies", good, data, 1 << 20, "header length"},
      {"len-zero", good, data, 0, "header length"},
      {"not-json", "{not json", data, -1, "not valid JSON"},
      {"not-object", "[1, 2]", data, -1, "not a JSON object"},
      {"dtype", R"({"q": {"dtype": "Q7", "shape": [2, 2], "data_offsets": [0, 16]}})", data, -1, "unknown dtype Q7"},
      {"truncated", good, data.substr(0, 10), -1, "truncated or lying offsets"},
      {"offsets-lie", R"({"q": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 4000]}})", data, -1,
       "truncated or lying offsets"},
      {"offsets-reversed", R"({"q": {"dtype": "F32", "shape": [2, 2], "data_offsets": [16, 0]}})", data, -1,
       "truncated or lying offsets"},
      {"span", R"({"q": {"dtype": "F32", "shape": [3, 2], "data_offsets": [0, 16]}})", data, -1, "offsets span 16 bytes"},
      {"overflow", R"({"q": {"dtype": "F32", "shape": [4294967296, 4294967296, 16], "data_offsets": [0, 16]}})",
       data, -1, "overflows 64 bits"},
      {"negative", R"({"q": {"dtype": "F32", "shape": [-2, 2], "data_offsets": [0, 16]}})", data, -1,
       "not a non-negative integer"},
      {"missing", R"({"q": {"dtype": "F32", "shape": [2, 2]}})", data, -1, "lacks dtype, shape or data_offsets"},
      {"overlap",
       R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}, "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}})",
       data, -1, "overlap"},
  };
  for (const Case& c : cases) {
    fs::path p = writeFile(c.name + ".safetensors", c.header, c.data, c.headerLen);
    std::string err = errorOf([&] { SafetensorsFile f(p.string()); });
    EXPECT_NE(err.find(c.expect), std::string::npos) << c.name << ": " << err;
    EXPECT_EQ(err.find('\n'), std::string::npos) << c.name << ": one line";
  }
  fs::path tiny = tmpFile("tiny.safetensors");
  std::ofstream(tiny, std::ios::binary) << "abc";
  EXPECT_NE(errorOf([&] { SafetensorsFile f(tiny.string()); }).find("too short"), std::string::npos);
  fs::path nan = writeFile("nan.safetensors", good, bytesOf({1, 2, std::numeric_limits<float>::quiet_NaN(), 4}));
  SafetensorsFile f(nan.string());
  EXPECT_NE(errorOf([&] { f.read("q"); }).find("NaN at [1, 0] of shape [2, 2]"), std::string::npos);
  fs::remove_all(nan.parent_path());
}

}  // namespace
}  // namespace attnscope::test

// Token files and how tokens are shown.
#include "compute/tokens.h"

namespace attnscope::test {
namespace {

TEST(Tokens, JsonAndLinesAreReadAndCounted) {
  fs::path json = tmpFile("t.json"), lines = tmpFile("t.txt"), bad = tmpFile("bad.json");
  std::ofstream(json) << R"(["<s>", "The", "\u0120cat", "\n"])";
  std::ofstream(lines) << "<s>\nThe\r\n cat\n\n";
  std::ofstream(bad) << "[\"a\", 3]";
  EXPECT_EQ(readTokens(json.string(), 4), (std::vector<std::string>{"<s>", "The", "\xc4\xa0" "cat", "\n"}));
  EXPECT_EQ(readTokens(lines.string(), 4), (std::vector<std::string>{"<s>", "The", " cat", ""}));
  EXPECT_NE(errorOf([&] { readTokens(json.string(), 5); }).find("holds 4 tokens but the map has n = 5"), std::string::npos);
  EXPECT_NE(errorOf([&] { readTokens(bad.string(), 2); }).find("entry 1 is not a string"), std::string::npos);
}

TEST(Tokens, ControlCharactersAreMadeVisible) {
  EXPECT_EQ(visibleToken("cat"), "cat");
  EXPECT_EQ(visibleToken("a\nb\tc\rd"), "a\\nb\\tc\\rd");
  EXPECT_EQ(visibleToken(std::string("\x07", 1)), "\\x07");
  EXPECT_EQ(visibleToken("\xc4\xa0the"), "\xc4\xa0the");  // UTF-8 kept whole
  EXPECT_EQ(visibleToken("\xff" "x"), "\\xffx");          // a stray byte is escaped
  EXPECT_EQ(visibleToken(" cat"), "\xc2\xb7" "cat");      // a leading space shows
  EXPECT_EQ(visibleToken(""), "\"\"");
  // Invisible code points and malformed UTF-8 are shown, not drawn as nothing.
  EXPECT_EQ(visibleToken("a\xe2\x80\x8b" "b"), "a\\u{200b}b");     // zero-width space
  EXPECT_EQ(visibleToken("\xef\xbb\xbf" "x"), "\\u{feff}x");         // byte-order mark
  EXPECT_EQ(visibleToken("\xc2\x85"), "\\u{0085}");                   // C1 control (NEL)
  EXPECT_EQ(visibleToken("\xc0\xaf"), "\\xc0\\xaf");                  // overlong '/'
  EXPECT_EQ(visibleToken("\xed\xa0\x80"), "\\xed\\xa0\\x80");        // a UTF-16 surrogate
  EXPECT_EQ(visibleToken("\xf0\x9f\x98\x80"), "\xf0\x9f\x98\x80");  // an emoji is kept
}

}  // namespace
}  // namespace attnscope::test
