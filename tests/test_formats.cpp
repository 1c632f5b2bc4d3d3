// The committed corpus of valid and malformed input files (tests/corpus, written by
// tools/make_corpus.py): every file gets the answer expected.json gives it, "ok" with the
// right values or one line naming the problem, through both ways the app reads inputs (whole
// matrices, and rows streamed from the mapped file). Also built with AddressSanitizer and
// UndefinedBehaviorSanitizer (attnscope_parser_tests_sanitized).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>

#include "compute/capture_metadata.h"
#include "compute/head_source.h"
#include "compute/npy.h"
#include "compute/safetensors.h"
#include "compute/tokens.h"
#include "engine/error.h"

namespace fs = std::filesystem;

namespace attnscope::test {
namespace {

const fs::path kCorpus = ATTNSCOPE_CORPUS_DIR;

// Empty when f succeeded, else the error's text.
std::string errorOf(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

// Every value of every head, streamed row by row as the upload does.
std::vector<float> streamAll(HeadSource s) {
  std::vector<float> out;
  for (uint32_t h = 0; h < s.heads(); ++h) {
    s.selectHead(h);
    std::vector<float> rows(s.rows() * (s.cols() + 3));
    s.readRows(0, s.rows(), rows.data(), s.cols() + 3);  // padded rows, as on the device
    for (uint64_t r = 0; r < s.rows(); ++r)
      for (uint64_t c = 0; c < s.cols() + 3; ++c) {
        float v = rows[r * (s.cols() + 3) + c];
        if (c < s.cols()) out.push_back(v);
        else if (v != 0.0f) throw Error("padding is not zero");
      }
  }
  return out;
}

TEST(Corpus, EveryFileGetsItsExpectedAnswer) {
  std::ifstream in(kCorpus / "expected.json");
  ASSERT_TRUE(in) << "missing " << (kCorpus / "expected.json");
  nlohmann::json expected = nlohmann::json::parse(in);
  ASSERT_GE(expected.size(), 50u);
  std::vector<float> v12;
  for (int i = 0; i < 12; ++i) v12.push_back(float(i) - 5.5f);
  for (auto it = expected.begin(); it != expected.end(); ++it) {
    std::string file = (kCorpus / it.key()).string(), expect = it.value()["expect"];
    std::string kind = it.key().substr(0, it.key().find('/'));
    std::vector<std::string> errors;  // one per way of reading
    if (kind == "npy") {
      errors.push_back(errorOf([&] {
        NpyMatrix m = readNpyMatrix(file, "Q");
        if (expect == "ok") {
          EXPECT_EQ(m.rows, it.value()["rows"].get<uint64_t>()) << file;
          EXPECT_EQ(m.cols, it.value()["cols"].get<uint64_t>()) << file;
          EXPECT_EQ(m.data, v12) << file;
        }
      }));
      errors.push_back(errorOf([&] {
        std::vector<float> all = streamAll(HeadSource::open(file, "Q", "auto"));
        if (expect == "ok") {
          EXPECT_EQ(all, v12) << file;
        }
      }));
    } else if (kind == "safetensors") {
      errors.push_back(errorOf([&] {
        SafetensorsFile f(file);
        for (const auto& t : f.tensors()) {
          std::vector<float> values = f.read(t.name);
          if (expect == "ok") {
            EXPECT_EQ(values, std::vector<float>(v12.begin(), v12.begin() + 8)) << file << " " << t.name;
          }
        }
        if (expect == "ok") {
          EXPECT_EQ(f.tensors().size(), it.value()["tensors"].get<size_t>()) << file;
        }
      }));
      errors.push_back(errorOf([&] {
        auto f = std::make_shared<const SafetensorsFile>(file);
        for (const auto& t : f->tensors()) {
          std::vector<float> values = streamAll(HeadSource::fromTensor(f, t.name, "Q", "auto"));
          if (expect == "ok") {
            EXPECT_EQ(values, std::vector<float>(v12.begin(), v12.begin() + 8)) << file << " " << t.name;
          }
        }
        if (expect == "ok") {
          EXPECT_EQ(findLayerTensors(f->tensors()).size(), 2u) << file;
        }
      }));
      // The capture metadata, and the attention it implies for each layer: its own answer
      // ("metadata"), else none for valid files; a file broken in its data may read either way.
      std::string metaExpect = it.value().value("metadata", expect == "ok" ? "ok" : "");
      std::string metaError = errorOf([&] {
        SafetensorsFile f(file);
        if (auto m = readCaptureMetadata(f))
          for (const LayerMetadata& l : m->layers)
            resolveAttention({}, &l, uint32_t(m->tokens), l.headDim, uint32_t(m->queryBegin));
      });
      if (metaExpect == "ok") {
        EXPECT_EQ(metaError, "") << file << " (metadata)";
      } else if (metaExpect.empty()) {
        EXPECT_EQ(metaError.find('\n'), std::string::npos) << file << ": one line, got: " << metaError;
      } else {
        EXPECT_NE(metaError.find(metaExpect), std::string::npos) << file << ": expected '" << metaExpect << "' in: " << metaError;
        EXPECT_EQ(metaError.find('\n'), std::string::npos) << file << ": one line, got: " << metaError;
      }
    } else {
      errors.push_back(errorOf([&] { readTokens(file, it.value()["n"].get<uint64_t>()); }));
    }
    for (const std::string& err : errors) {
      if (expect == "ok") {
        EXPECT_EQ(err, "") << file;
        continue;
      }
      EXPECT_NE(err.find(expect), std::string::npos) << file << ": expected '" << expect << "' in: " << err;
      EXPECT_EQ(err.find('\n'), std::string::npos) << file << ": one line, got: " << err;
    }
  }
}

}  // namespace
}  // namespace attnscope::test
