#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "lessons/lesson.h"

namespace attnscope::lessons {

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
 private:
  std::vector<uint32_t> ns_;
  uint32_t d_;
  double measureCells_;
  size_t sliderStep_ = size_t(-1);  // the slider's value while it is dragged
  int sliderN_ = 0;
  std::vector<std::unique_ptr<Numbers>> numbers_;
};

}  // namespace attnscope::lessons
