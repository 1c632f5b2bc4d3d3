// The lessons: every number a lesson shows is what the double-precision reference says, every
// step of every lesson renders headless (at a window's size and a slide's), and the command
// and the window work as a teacher uses them.
#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>

#include "lessons/lessons.h"
#include "tests/cli_support.h"
#include "tests/gpu_fixture.h"
#include "viz/figure_renderer.h"
#include "tests/test_files.h"

namespace fs = std::filesystem;

namespace attnscope::test {
namespace {

using namespace attnscope::lessons;

class Lessons : public GpuTest {
 protected:
  static void SetUpTestSuite() {
    writer_ = std::make_unique<ScenePngWriter>(*gpu().ctx, *gpu().compiler);
    lessons_ = loadLessons();
  }
  static void TearDownTestSuite() {
    lessons_.clear();
    writer_.reset();
  }
  LessonEnv env() { return {*gpu().ctx, *gpu().kernels, writer_->font()}; }
  template <typename T>
  T& lesson() {
    for (auto& l : lessons_)
      if (auto* p = dynamic_cast<T*>(l.get())) return *p;
    throw std::runtime_error("lesson missing");
  }
  static std::unique_ptr<ScenePngWriter> writer_;
  static std::vector<std::unique_ptr<Lesson>> lessons_;
};
std::unique_ptr<ScenePngWriter> Lessons::writer_;
std::vector<std::unique_ptr<Lesson>> Lessons::lessons_;

AttentionSpec specOf(uint32_t n, uint32_t d, MaskKind mask, std::optional<double> scale, double t = 1) {
  AttentionSpec s;
  s.n = n;
  s.d = d;
  s.mask = mask;
  s.scale = scale;
  s.temperature = t;
  return s;
}

// Logits (-inf where masked) and probabilities of a SmallAttention against the reference.
// Tolerances: logits 2e-6 relative to max(1, |s|) plus float's rounding of the d products
// summed (2 ulp of Σ|q_c k_c| times the scale: it dominates at d = 1024); p 1e-6 absolute
// plus `pRel` relative.
void expectMatches(const SmallAttention& got, const ref::Matrix& q, const ref::Matrix& k, const AttentionSpec& spec,
                   double pRel, const std::string& what) {
  for (uint32_t i = 0; i < spec.n; ++i) {
    std::vector<double> p = ref::probabilityRow(q, k, spec, i);
    for (uint32_t j = 0; j < spec.n; ++j) {
      if (ref::unmasked(spec, i, j)) {
        double s = ref::logit(q, k, spec, i, j), mag = 0;
        for (uint32_t c = 0; c < spec.d; ++c) mag += std::abs(double(q.at(i, c)) * k.at(j, c));
        double tol = 2e-6 * std::max(1.0, std::abs(s)) + 2.4e-7 * mag * spec.logitScale();
        ASSERT_NEAR(got.logit(i, j), s, tol) << what << " logit " << i << "," << j;
      } else {
        ASSERT_TRUE(std::isinf(got.logit(i, j)) && got.logit(i, j) < 0) << what << " masked " << i << "," << j;
        ASSERT_EQ(got.p(i, j), 0.0f) << what << " masked p " << i << "," << j;
      }
      ASSERT_NEAR(got.p(i, j), p[j], 1e-6 + pRel * p[j]) << what << " p " << i << "," << j;
    }
  }
}

TEST_F(Lessons, WorkedExampleNumbersMatchTheReference) {
  auto& l = lesson<WorkedExampleLesson>();
  LessonEnv e = env();
  ASSERT_GE(l.examples().size(), 2u);
  for (size_t x = 0; x < l.examples().size(); ++x) {
    const SmallHead& h = l.examples()[x];
    const auto& num = l.numbers(e, x);
    ref::Matrix q{h.n, h.d, h.q}, k{h.n, h.d, h.k}, v{h.n, h.d, h.v};
    expectMatches(num.raw, q, k, specOf(h.n, h.d, MaskKind::None, 1.0), 1e-5, h.name + " QK^T");
    expectMatches(num.scaled, q, k, specOf(h.n, h.d, MaskKind::None, std::nullopt), 1e-5, h.name + " /sqrt d");
    AttentionSpec fin = specOf(h.n, h.d, h.causal ? MaskKind::Causal : MaskKind::None, std::nullopt);
    expectMatches(num.final, q, k, fin, 1e-5, h.name + " final");
    for (uint32_t i = 0; i < h.n; ++i) {
      std::vector<double> o = ref::outputRow(q, k, v, fin, i);
      for (uint32_t c = 0; c < h.d; ++c)
        EXPECT_NEAR(num.final.out[size_t(i) * h.d + c], o[c], 2e-6 * std::max(1.0, std::abs(o[c]))) << h.name;
    }
    if (h.name == "Thinking Machines") {
      // The numbers the lesson in ../shared/seeds prints, to its two decimals.
      EXPECT_NEAR(num.scaled.logit(0, 0), 0.58, 0.005);
      EXPECT_NEAR(num.final.p(0, 0), 0.57, 0.005);
      EXPECT_NEAR(num.final.p(1, 1), 0.52, 0.005);
      EXPECT_NEAR(num.final.out[0], 0.59, 0.005);
      EXPECT_NEAR(num.final.out[5], 0.56, 0.005);
    }
  }
}

TEST_F(Lessons, WhySqrtDNumbersMatchTheReferenceUpToD1024) {
  auto& l = lesson<WhySqrtDLesson>();
  LessonEnv e = env();
  ASSERT_GE(l.steps(), 2u);
  for (size_t s = 0; s < l.steps(); ++s) {
    const auto& num = l.numbers(e, s);
    uint32_t n = l.keys();
    ref::Matrix q{n, num.d, num.q}, k{n, num.d, num.k};
    // Unscaled logits reach ~100 at d = 1024: float's 1e-7 relative error moves exp() by up
    // to 1e-4 relative, so p gets a looser relative bound there.
    expectMatches(num.unscaled, q, k, specOf(n, num.d, MaskKind::None, 1.0), 5e-4, "unscaled d=" + std::to_string(num.d));
    expectMatches(num.scaled, q, k, specOf(n, num.d, MaskKind::None, std::nullopt), 1e-5, "scaled d=" + std::to_string(num.d));
    EXPECT_NEAR(entropyOf(num.scaled.probs.data(), n),
                ref::rowEntropy(q, k, specOf(n, num.d, MaskKind::None, std::nullopt), 0), 1e-5);
  }
  // The lesson's point, seen in its numbers: at the largest d the unscaled softmax is nearly
  // one-hot and the scaled one is not.
  const auto& last = l.numbers(e, l.steps() - 1);
  float maxU = *std::max_element(last.unscaled.probs.begin(), last.unscaled.probs.begin() + l.keys());
  float maxS = *std::max_element(last.scaled.probs.begin(), last.scaled.probs.begin() + l.keys());
  EXPECT_GT(maxU, 0.99f);
  EXPECT_LT(maxS, 0.9f);
}

TEST_F(Lessons, TemperatureNumbersAreSoftmaxOfLogitsOverT) {
  // softmax(logits / T), and on the soft-cap step softmax(C tanh(logits / C) / T).
  auto& l = lesson<TemperatureLesson>();
  LessonEnv e = env();
  bool sawCap = false;
  for (size_t s = 0; s < l.steps(); ++s) {
    const SmallAttention& num = l.numbers(e, s);
    double t = l.temperature(s), cap = l.softcap(s);
    std::vector<double> z(l.logits().begin(), l.logits().end());
    if (cap > 0) {
      sawCap = true;
      for (double& x : z) x = cap * std::tanh(x / cap);
    }
    double m = *std::max_element(z.begin(), z.end()), sum = 0;
    for (double x : z) sum += std::exp((x - m) / t);
    for (size_t j = 0; j < z.size(); ++j) {
      double want = std::exp((z[j] - m) / t) / sum;
      EXPECT_NEAR(num.p(0, uint32_t(j)), want, 1e-6 + 1e-5 * want) << "T=" << t << " cap=" << cap << " word " << j;
      EXPECT_NEAR(num.logit(0, uint32_t(j)), z[j] / t, 2e-6 * std::max(1.0, std::abs(z[j] / t)));
    }
    if (cap > 0) {
      EXPECT_LT(num.p(0, 0), l.uncapped(e, s).p(0, 0)) << "the cap flattens the top word";
    }
  }
  EXPECT_TRUE(sawCap) << "lessons.json has a soft-cap step";
}

TEST_F(Lessons, CausalMaskNumbersMatchTheReference) {
  auto& l = lesson<CausalMaskLesson>();
  LessonEnv e = env();
  const SmallHead& h = l.head();
  ref::Matrix q{h.n, h.d, h.q}, k{h.n, h.d, h.k};
  expectMatches(l.numbers(e).open, q, k, specOf(h.n, h.d, MaskKind::None, std::nullopt), 1e-5, "open");
  expectMatches(l.numbers(e).causal, q, k, specOf(h.n, h.d, MaskKind::Causal, std::nullopt), 1e-5, "causal");
}

TEST_F(Lessons, HeadsNumbersMatchTheReferenceAndShowTheirPatterns) {
  auto& l = lesson<HeadsLesson>();
  LessonEnv e = env();
  uint32_t n = uint32_t(l.tokens().size()), d = l.dim();
  AttentionSpec spec = specOf(n, d, MaskKind::Causal, std::nullopt);
  std::vector<std::vector<float>> p;
  for (size_t h = 0; h + 1 < l.steps(); ++h) {
    const auto& num = l.numbers(e, h);
    expectMatches(num.attention, ref::Matrix{n, d, num.q}, ref::Matrix{n, d, num.k}, spec, 1e-5,
                  "head " + std::to_string(h));
    p.push_back(num.attention.probs);
  }
  ASSERT_EQ(p.size(), 3u);
  auto argmax = [&](size_t h, uint32_t i) {
    return std::max_element(p[h].begin() + size_t(i) * n, p[h].begin() + size_t(i) * n + i + 1) - (p[h].begin() + size_t(i) * n);
  };
  for (uint32_t i = 1; i < n; ++i) {
    EXPECT_EQ(argmax(0, i), i - 1) << "the previous-token head, row " << i;
    EXPECT_EQ(argmax(1, i), 0) << "the first-token head, row " << i;
  }
  EXPECT_LT(*std::max_element(p[2].begin() + size_t(n - 1) * n, p[2].end()), 0.3f) << "the broad head spreads";
  // Clicking a token's row in a head's matrix shows that token in every head.
  l.draw(e, 0, 1280, 800);
  ASSERT_EQ(l.rowRects().size(), n);
  const Rect& r = l.rowRects()[5];
  size_t step = 0;
  EXPECT_TRUE(l.click(step, r.x + 5, r.y + r.h / 2));
  EXPECT_EQ(step, l.steps() - 1);
  EXPECT_EQ(l.focus(), 5u);
  size_t other = 1;
  EXPECT_FALSE(l.click(other, 2, 2)) << "outside every row";
}

TEST_F(Lessons, PositionalEncodingNumbersMatchTheReference) {
  auto& l = lesson<PositionalEncodingLesson>();
  LessonEnv e = env();
  const auto& z = l.sizes();
  const auto& num = l.numbers(e);
  // The close-up: every value against sin/cos in double (the GPU reduces angles exactly).
  for (uint32_t p = 0; p < z.zoomPositions; ++p)
    for (uint32_t c = 0; c < z.zoomDims; ++c)
      ASSERT_NEAR(num.zoom[size_t(p) * z.zoomDims + c], ref::positionalEncoding(p, c, z.dModel), 2e-6) << p << "," << c;
  // The whole table: each texel row is the mean over its positions (rows checked: first, a
  // middle one, last).
  for (uint32_t r : {0u, num.wholeRows / 2, num.wholeRows - 1}) {
    uint64_t first = (uint64_t(r) * z.positions + num.wholeRows - 1) / num.wholeRows;
    uint64_t last = (uint64_t(r + 1) * z.positions + num.wholeRows - 1) / num.wholeRows;
    for (uint32_t c = 0; c < z.dModel; c += 7) {
      double mean = 0;
      for (uint64_t p = first; p < last; ++p) mean += ref::positionalEncoding(p, c, z.dModel);
      mean /= double(last - first);
      ASSERT_NEAR(num.wholeMeans[size_t(r) * z.dModel + c], mean, 1e-5) << "row " << r << " dim " << c;
    }
  }
  // PE_i · PE_j, and rotary's q·k = Σ_c (2/D) cos((i - j) θ_c) for u = 1/√D in every component.
  uint32_t n = z.similarityPositions;
  for (uint32_t i = 0; i < n; i += 17)
    for (uint32_t j = 0; j < n; j += 13) {
      double dot = 0;
      for (uint32_t c = 0; c < z.similarityDModel; ++c)
        dot += ref::positionalEncoding(i, c, z.similarityDModel) * ref::positionalEncoding(j, c, z.similarityDModel);
      ASSERT_NEAR(num.similarity.logit(i, j), dot, 2e-5 * std::max(1.0, std::abs(dot))) << i << "," << j;
      double rot = 0;
      for (uint32_t c = 0; c < z.ropeDim / 2; ++c)
        rot += 2.0 / z.ropeDim * std::cos((double(i) - j) * std::pow(z.ropeBase, -2.0 * c / z.ropeDim));
      ASSERT_NEAR(num.rotary.logit(i, j), rot, 2e-5) << "rotary " << i << "," << j;
    }
}

TEST_F(Lessons, QuadraticCostFiguresAreTheFormulasAndTheTimeIsMeasured) {
  auto& l = lesson<QuadraticCostLesson>();
  LessonEnv e = env();
  for (size_t s = 0; s < l.steps(); ++s) {
    const auto& num = l.numbers(e, s);
    double n = num.n;
    EXPECT_EQ(num.cells, n * n);
    EXPECT_EQ(num.unmaskedCells, n * (n + 1) / 2) << "causal: the lower triangle and the diagonal";
    EXPECT_EQ(num.denseBytes, 4 * n * n);
    EXPECT_EQ(num.flops, 2.0 * num.d * n * (n + 1) / 2);
    EXPECT_GT(num.timedMs, 0.0) << "measured on the device, not estimated";
    EXPECT_GE(num.wholeMs, num.timedMs);
    EXPECT_EQ(num.mapN, std::min(num.n, 2048u));
  }
  // The largest n is timed on a slice of rows (1e12 cells would take an hour on a CPU).
  EXPECT_LT(l.numbers(e, l.steps() - 1).rowsTimed, l.numbers(e, l.steps() - 1).n);
}

// Not blank: a good share of the picture is ink, and some of it is the accent colour (the
// step's highlighted part).
void expectDrawn(const std::vector<uint8_t>& px, uint32_t w, uint32_t h, const std::string& what) {
  size_t ink = 0, accent = 0;
  for (size_t i = 0; i < size_t(w) * h; ++i) {
    const uint8_t* p = &px[i * 4];
    if (p[0] < 200 || p[1] < 200 || p[2] < 200) ++ink;
    if (p[0] > 190 && p[1] > 70 && p[1] < 110 && p[2] < 60) ++accent;
  }
  EXPECT_GT(ink, size_t(w) * h / 200) << what << ": hardly anything drawn";
  EXPECT_GT(accent, 50u) << what << ": no highlight";
}

TEST_F(Lessons, EveryStepRendersHeadlessAtWindowAndSlideSizes) {
  LessonEnv e = env();
  size_t total = 0;
  for (auto& l : lessons_)
    for (size_t s = 0; s < l->steps(); ++s) {
      for (auto [w, h] : {std::pair{1280u, 800u}, std::pair{1920u, 1080u}}) {
        std::vector<uint8_t> px = writer_->write(l->draw(e, s, w, h), "");
        ASSERT_EQ(px.size(), size_t(w) * h * 4);
        expectDrawn(px, w, h, l->name() + " step " + std::to_string(s + 1) + " at " + std::to_string(w));
      }
      ++total;
    }
  EXPECT_GE(total, 20u);
}

int sh(const std::string& cmd, std::string& out) {
  fs::path f = test::scratchDir("lesson-out") / "out.txt";
  int status = std::system((cmd + " >" + f.string() + " 2>&1").c_str());
  std::ifstream in(f);
  out.assign(std::istreambuf_iterator<char>(in), {});
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

TEST(LessonCommand, ListsWritesStepsAndRefusesUnknownNames) {
  std::string out;
  ASSERT_EQ(sh(std::string(ATTNSCOPE_BINARY) + " lesson --list", out), 0) << out;
  EXPECT_NE(out.find("worked-example"), std::string::npos) << out;
  EXPECT_NE(out.find("causal-mask"), std::string::npos) << out;
  fs::path dir = test::scratchDir("lessons");
  ASSERT_EQ(sh(std::string(ATTNSCOPE_BINARY) + " lesson temperature -q --out " + dir.string(), out), 0) << out;
  for (int s = 1; s <= 5; ++s) EXPECT_TRUE(fs::exists(dir / ("temperature-0" + std::to_string(s) + ".png"))) << s;
  EXPECT_EQ(sh(std::string(ATTNSCOPE_BINARY) + " lesson nope", out), 1);
  EXPECT_NE(out.find("no lesson 'nope': the lessons are worked-example"), std::string::npos) << out;
  EXPECT_EQ(sh("env -u DISPLAY -u WAYLAND_DISPLAY " + std::string(ATTNSCOPE_BINARY) + " lesson heads", out), 1);
  EXPECT_NE(out.find("no display for the lesson window"), std::string::npos) << out;
  EXPECT_NE(out.find("attnscope lesson heads --out DIR"), std::string::npos) << out;
  // A broken data file is one line naming the file and what is wrong.
  fs::path data = test::scratchDir("lesson-data");
  fs::create_directories(data / "lessons");
  fs::copy(fs::path(ATTNSCOPE_SOURCE_DIR) / "data" / "colormaps.json", data / "colormaps.json",
           fs::copy_options::overwrite_existing);
  std::ofstream(data / "lessons" / "lessons.json")
      << R"({"worked_example": [{"name": "x", "tokens": ["a"], "causal": true, "q": [[1, 2]], "k": [[1]], "v": [[1, 2]]}]})";
  EXPECT_EQ(sh("ATTNSCOPE_DATA_DIR=" + data.string() + " " + std::string(ATTNSCOPE_BINARY) + " lesson --list", out), 1);
  EXPECT_NE(out.find("worked example 'x', k has rows of different lengths"), std::string::npos) << out;
  std::ofstream(data / "lessons" / "lessons.json") << "{\"worked_example\": [";
  EXPECT_EQ(sh("ATTNSCOPE_DATA_DIR=" + data.string() + " " + std::string(ATTNSCOPE_BINARY) + " lesson --list", out), 1);
  EXPECT_NE(out.find("is malformed"), std::string::npos) << out;
  EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 1) << "one line: " << out;
  fs::remove_all(data);
  fs::remove_all(dir);
}

TEST(LessonCommand, WindowStepsThroughALessonUnderXvfb) {
  if (!haveXvfb()) GTEST_SKIP() << "xvfb-run is not installed";
  // With the controls panel (Dear ImGui) drawn every frame; positional-encoding also frees
  // its images at the end, after the last frame is done.
  // "" opens the contents page first (then lesson 1).
  for (const char* name : {"", "worked-example", "positional-encoding"}) {
    std::string out;
    CliRun r = runInXvfb(std::string("lesson ") + name + " --autoplay --validate");
    int rc = r.exitCode;
    out = r.err;
    EXPECT_EQ(rc, 0) << name << ": " << out;
    EXPECT_EQ(out.find("validation"), std::string::npos) << name << ": " << out;
  }
}

}  // namespace
}  // namespace attnscope::test
