// The attention lessons (../shared/seeds explains them with static pictures): each a few
// steps, each step a picture whose every number comes from the GPU passes that draw a
// researcher's 100k-token maps. The sentences and numbers are data (data/lessons/lessons.json).
// A lesson opens in a window (attnscope lesson NAME) or writes its steps as PNGs for slides.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "compute/kernels.h"
#include "compute/small_attention.h"
#include "lessons/slide.h"

namespace attnscope::lessons {

// What drawing a step needs: the device, its kernels and the renderer's font.
struct LessonEnv {
  Context& ctx;
  Kernels& kernels;
  const FontAtlas& font;
  float reserveRight = 0;  // pixels at the right kept free of content (the window's controls)
};

class Lesson {
 public:
  virtual ~Lesson() = default;
  virtual std::string name() const = 0;   // on the command line: "worked-example"
  virtual std::string title() const = 0;  // "A worked example: softmax(QKᵀ/√d)·V"
  virtual size_t steps() const = 0;
  virtual std::string stepTitle(size_t step) const = 0;
  // Computes what the step shows (once; cached) and draws it at width x height.
  virtual Scene draw(LessonEnv& env, size_t step, uint32_t width, uint32_t height) = 0;
  // Drops everything cached on the device; call before that device goes away.
  virtual void releaseDevice() {}
  // The window's controls for this step (Dear ImGui widgets, inside a panel the window
  // opened). Returns true when something changed; the lesson has dropped what it must
  // recompute and the window draws the step again.
  virtual bool buildControls(size_t /*step*/) { return false; }
  // A click at (x, y) in the last picture drawn; may move to another step. Returns true when
  // the picture changes.
  virtual bool click(size_t& /*step*/, float /*x*/, float /*y*/) { return false; }
};

// The contents page: every lesson with its title and number of steps; `rows` receives each
// entry's rectangle for clicks.
Scene drawContents(const FontAtlas& font, const std::vector<std::unique_ptr<Lesson>>& lessons, size_t selected,
                   uint32_t width, uint32_t height, std::vector<Rect>* rows = nullptr);

// Releases every lesson's device objects when it goes out of scope: declare it after the
// device's owner so that it runs first.
struct ReleaseLessonsOnExit {
  std::vector<std::unique_ptr<Lesson>>& lessons;
  ~ReleaseLessonsOnExit() {
    for (auto& l : lessons) l->releaseDevice();
  }
};

// A small head given by its numbers.
struct SmallHead {
  std::string name;
  std::vector<std::string> tokens;
  bool causal = false;
  uint32_t n = 0, d = 0;
  std::vector<float> q, k, v;  // [n][d]
};

// 1. Q, K, V → QKᵀ → ÷√d → mask → softmax → ·V, for each example in the data file.
class WorkedExampleLesson : public Lesson {
 public:
  explicit WorkedExampleLesson(std::vector<SmallHead> examples);
  std::string name() const override { return "worked-example"; }
  std::string title() const override { return "A worked example: softmax(QK\u1d40/\u221ad)\u00b7V"; }
  size_t steps() const override { return examples_.size() * kStepsPerExample; }
  std::string stepTitle(size_t step) const override;
  Scene draw(LessonEnv& env, size_t step, uint32_t width, uint32_t height) override;
  bool buildControls(size_t step) override;  // every number of Q, K and V, editable

  static constexpr size_t kStepsPerExample = 6;
  // What the GPU computed for example e: raw = QKᵀ (scale 1, no mask), scaled = QKᵀ/√d (no
  // mask), final = with the example's mask, softmax and ·V.
  struct Numbers {
    SmallAttention raw, scaled, final;
  };
  const Numbers& numbers(LessonEnv& env, size_t example);
  const std::vector<SmallHead>& examples() const { return examples_; }

 private:
  std::vector<SmallHead> examples_;
  std::vector<std::unique_ptr<Numbers>> numbers_;
};

// 2. Why √d: one query and `keys` random keys of dimension d, softmax with and without the scale.
class WhySqrtDLesson : public Lesson {
 public:
  WhySqrtDLesson(std::vector<uint32_t> dims, uint32_t keys, uint64_t seed);
  std::string name() const override { return "why-sqrt-d"; }
  std::string title() const override { return "Why divide by \u221ad"; }
  size_t steps() const override { return dims_.size(); }
  std::string stepTitle(size_t step) const override;
  Scene draw(LessonEnv& env, size_t step, uint32_t width, uint32_t height) override;
  bool buildControls(size_t step) override;  // d from 1 to 1024

  struct Numbers {
    uint32_t d;
    std::vector<float> q, k;        // [keys][d] each (query row 0 is the one shown)
    SmallAttention unscaled, scaled;
  };
  const Numbers& numbers(LessonEnv& env, size_t step);
  uint32_t keys() const { return keys_; }

 private:
  std::vector<uint32_t> dims_;
  uint32_t keys_;
  uint64_t seed_;
  std::vector<std::unique_ptr<Numbers>> numbers_;
};

// 3. Temperature: the next word's probabilities as T goes from 0.1 to 5.
class TemperatureLesson : public Lesson {
 public:
  // softcaps: per step, Gemma-2's soft cap C (logits become C tanh(logit / C)), 0 for none.
  TemperatureLesson(std::string sentence, std::vector<std::string> candidates, std::vector<float> logits,
                    std::vector<double> temperatures, std::vector<double> softcaps);
  std::string name() const override { return "temperature"; }
  std::string title() const override { return "Temperature"; }
  size_t steps() const override { return temperatures_.size(); }
  std::string stepTitle(size_t step) const override;
  Scene draw(LessonEnv& env, size_t step, uint32_t width, uint32_t height) override;
  bool buildControls(size_t step) override;  // T from 0.1 to 5, the soft cap from 0 (off) to 20

  // p_j = softmax(logits / T), or with a cap softmax(C tanh(logits / C) / T), as the GPU
  // computed it (row 0 of a one-hot-key head); uncapped(): the same step without the cap.
  const SmallAttention& numbers(LessonEnv& env, size_t step);
  const SmallAttention& uncapped(LessonEnv& env, size_t step);
  const std::vector<float>& logits() const { return logits_; }
  double temperature(size_t step) const { return temperatures_[step]; }
  double softcap(size_t step) const { return softcaps_[step]; }

 private:
  std::string sentence_;
  std::vector<std::string> candidates_;
  std::vector<float> logits_;
  std::vector<double> temperatures_;
  std::vector<double> softcaps_;
  std::vector<std::unique_ptr<SmallAttention>> numbers_, uncapped_;
  const SmallAttention& compute(LessonEnv& env, size_t step, double cap, std::vector<std::unique_ptr<SmallAttention>>& into);
};

// 4. The causal mask: the upper triangle goes to −∞ before the softmax and to 0 after.
class CausalMaskLesson : public Lesson {
 public:
  explicit CausalMaskLesson(SmallHead head);
  std::string name() const override { return "causal-mask"; }
  std::string title() const override { return "The causal mask"; }
  size_t steps() const override { return 3; }
  std::string stepTitle(size_t step) const override;
  Scene draw(LessonEnv& env, size_t step, uint32_t width, uint32_t height) override;

  struct Numbers {
    SmallAttention open, causal;  // no mask, causal mask
  };
  const Numbers& numbers(LessonEnv& env);
  const SmallHead& head() const { return head_; }

 private:
  SmallHead head_;
  std::unique_ptr<Numbers> numbers_;
};

// 5. Heads: one sentence, several heads with the patterns the lessons name (previous token,
// first token, broad), and one token's row in each.
class HeadsLesson : public Lesson {
 public:
  HeadsLesson(std::vector<std::string> tokens, std::vector<std::string> presets, std::string focus, uint32_t d,
              uint32_t seed);
  std::string name() const override { return "heads"; }
  std::string title() const override { return "Heads: several attention patterns at once"; }
  size_t steps() const override { return presets_.size() + 1; }
  std::string stepTitle(size_t step) const override;
  Scene draw(LessonEnv& env, size_t step, uint32_t width, uint32_t height) override;
  bool buildControls(size_t step) override;  // which token's row to compare
  bool click(size_t& step, float x, float y) override;  // a token's label: its row in every head

  struct Numbers {
    std::vector<float> q, k;  // [n][d] as the synthetic head generator made them on the GPU
    SmallAttention attention;  // causal
  };
  const Numbers& numbers(LessonEnv& env, size_t head);
  const std::vector<std::string>& tokens() const { return tokens_; }
  uint32_t dim() const { return d_; }
  size_t focus() const { return focus_; }
  const std::vector<Rect>& rowRects() const { return labelRects_; }  // of the last matrix drawn

 private:
  std::vector<std::string> tokens_, presets_;
  size_t focus_;
  std::vector<Rect> labelRects_;  // row labels of the last matrix drawn, for clicks
  uint32_t d_, seed_;
  std::vector<std::unique_ptr<Numbers>> numbers_;
};

// 6. Positional encoding: the sinusoidal table of positions x dimensions (a few positions
// exactly, then 100 000 x 512 with each texel the mean of the cells it covers), PE·PEᵀ
// showing relative position, and rotary's q·k that depends on i - j alone.
class PositionalEncodingLesson : public Lesson {
 public:
  struct Sizes {
    uint32_t positions = 100000, dModel = 512;        // the whole table
    uint32_t zoomPositions = 64, zoomDims = 128;       // the exact close-up
    uint32_t similarityPositions = 256, similarityDModel = 128;
    uint32_t ropeDim = 64;
    double ropeBase = 10000;
  };
  explicit PositionalEncodingLesson(Sizes sizes);
  std::string name() const override { return "positional-encoding"; }
  std::string title() const override { return "Where is each token? Positional encodings"; }
  size_t steps() const override { return 4; }
  std::string stepTitle(size_t step) const override;
  Scene draw(LessonEnv& env, size_t step, uint32_t width, uint32_t height) override;
  void releaseDevice() override { images_.clear(); }
  bool buildControls(size_t step) override;  // how many positions and dimensions the table shows

  struct Numbers {
    std::vector<float> zoom;        // [zoomPositions][zoomDims], PE from the GPU
    uint32_t wholeRows = 0;         // texel rows of the whole table
    std::vector<float> wholeMeans;  // [wholeRows][dModel]: mean PE over each row's positions
    SmallAttention similarity;      // logits = PE_i · PE_j (scale 1, no mask)
    SmallAttention rotary;          // logits = R(i)u · R(j)u (scale 1, no mask)
    std::vector<float> ropeQ;       // the rotated rows R(i)u, [similarityPositions][ropeDim]
  };
  const Numbers& numbers(LessonEnv& env);
  const Sizes& sizes() const { return sizes_; }

 private:
  Sizes sizes_;
  std::unique_ptr<Numbers> numbers_;
  std::vector<std::shared_ptr<class Image>> images_;  // zoom, whole, similarity, rotary
};

// 7. Quadratic cost: n from 16 to 1 000 000; the cells, bytes and FLOPs of the map, the row
// statistics pass timed on this device at that n, and the map itself.
class QuadraticCostLesson : public Lesson {
 public:
  QuadraticCostLesson(std::vector<uint32_t> ns, uint32_t d, double measureCells);
  std::string name() const override { return "quadratic-cost"; }
  std::string title() const override { return "Why attention costs n\u00b2"; }
  size_t steps() const override { return ns_.size(); }
  std::string stepTitle(size_t step) const override;
  Scene draw(LessonEnv& env, size_t step, uint32_t width, uint32_t height) override;
  bool buildControls(size_t step) override;  // n from 16 to 1 000 000 on a log slider

  struct Numbers {
    uint32_t n = 0, d = 0;
    double cells = 0, unmaskedCells = 0, denseBytes = 0, flops = 0;
    uint32_t rowsTimed = 0;     // rows [0, rowsTimed) against all n keys, causal
    double timedMs = 0;         // GPU time of RowStatsPass for those rows (best of 2)
    double wholeMs = 0;         // timedMs when every row was timed, else scaled by the cells
    uint32_t mapN = 0;          // the map shown: cells [0, mapN)^2
    std::shared_ptr<class MapJob> map;
    ValueRange range{1e-4, 1};
    std::string device;
  };
  const Numbers& numbers(LessonEnv& env, size_t step);
  void releaseDevice() override {
    for (auto& n : numbers_) n.reset();
  }

 private:
  std::vector<uint32_t> ns_;
  uint32_t d_;
  double measureCells_;
  size_t sliderStep_ = size_t(-1);  // the slider's value while it is dragged
  int sliderN_ = 0;
  std::vector<std::unique_ptr<Numbers>> numbers_;
};

// Every lesson, in teaching order, from the data file (dataDir()/lessons/lessons.json, or
// `path`). Throws Error naming the file and the field when it is malformed.
std::vector<std::unique_ptr<Lesson>> loadLessons(const std::string& path = "");

// Entropy −Σ p log p (natural log) of probabilities, and a deterministic N(0, 1) matrix.
double entropyOf(const float* p, size_t n);
std::vector<float> normalMatrix(uint32_t rows, uint32_t cols, uint64_t seed);

}  // namespace attnscope::lessons
