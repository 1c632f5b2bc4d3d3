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
  // A lesson caches device objects for its steps: it must be destroyed before the device it
  // drew on (load it after the device's owner; ownership order does the rest).
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

// A small head given by its numbers.
struct SmallHead {
  std::string name;
  std::vector<std::string> tokens;
  bool causal = false;
  uint32_t n = 0, d = 0;
  std::vector<float> q, k, v;  // [n][d]
};

// Every lesson, in teaching order, from the data file (dataDir()/lessons/lessons.json, or
// `path`). Throws Error naming the file and the field when it is malformed.
std::vector<std::unique_ptr<Lesson>> loadLessons(const std::string& path = "");

// Entropy −Σ p log p (natural log) of probabilities, and a deterministic N(0, 1) matrix.
double entropyOf(const float* p, size_t n);
std::vector<float> normalMatrix(uint32_t rows, uint32_t cols, uint64_t seed);

}  // namespace attnscope::lessons
