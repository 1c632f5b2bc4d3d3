// One lesson step as a picture: a header (lesson, step, step title), the formula with the
// part in use highlighted, the content (matrices with every number, bar charts, map panels)
// and a caption, laid out for any size from a laptop window to a 4K slide. Produces a Scene
// that the viewer's renderer draws in a window or into a PNG.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "viz/figure.h"
#include "viz/figure_renderer.h"

namespace attnscope::lessons {

constexpr uint32_t kInk = rgba(30, 30, 36), kSoftInk = rgba(110, 110, 120), kAccent = rgba(214, 90, 30),
                   kPaper = rgba(246, 246, 248), kRule = rgba(200, 200, 206);

// A piece of the formula bar; `on` is drawn highlighted.
struct FormulaPart {
  std::string text;
  bool on = false;
};

// How matrix cells are coloured.
enum class CellColor { None, Probability, Signed };

struct MatrixView {
  std::string title;
  std::vector<std::string> rowLabels, colLabels;
  uint32_t rows = 0, cols = 0;
  std::vector<double> values;  // rows x cols; -inf shows as "−∞"
  int decimals = 2;
  CellColor color = CellColor::None;
  bool highlight = false;      // framed in the accent colour: what this step computed
};

class Slide {
 public:
  // reserveRight: pixels at the right that the content area leaves free.
  Slide(const FontAtlas& font, uint32_t width, uint32_t height, float reserveRight = 0);

  // steps == 0: no "step k of n" (the contents page).
  void header(const std::string& lesson, size_t step, size_t steps, const std::string& stepTitle);
  void formula(const std::vector<FormulaPart>& parts);
  void caption(const std::string& text);
  // The area between the formula and the caption.
  Rect content() const { return content_; }

  // A matrix with its numbers, fitted into `r` (cells as large as fit, up to a limit).
  // Returns the rectangle its cells use; `rowLabels` receives each row's label and cells.
  Rect matrix(const Rect& r, const MatrixView& m, std::vector<Rect>* rowRects = nullptr);
  // Horizontal bars for values in [0, 1] with labels and the values printed.
  void bars(const Rect& r, const std::string& title, const std::vector<std::string>& labels,
            const std::vector<double>& values, int decimals = 3);
  // Wrapped text in a box; returns the height used.
  float paragraph(const Rect& r, const std::string& text, TextSize size, uint32_t color);
  void text(const std::string& s, float x, float y, TextSize size, uint32_t color, int align = 0);
  void rect(const Rect& r, uint32_t color) { overlay_.rect(r, color); }
  void frame(const Rect& r, float width, uint32_t color);
  void panel(const ScenePanel& p) { scene_.panels.push_back(p); }

  TextSize bodySize() const { return body_; }
  TextSize titleSize() const { return title_; }
  float scale() const { return scale_; }
  const FontAtlas& font() const { return font_; }
  Scene finish();

 private:
  const FontAtlas& font_;
  OverlayBuilder overlay_;
  Scene scene_;
  float scale_;
  TextSize body_, title_, small_;
  Rect content_;
  float captionTop_;
};

// "0.58", "-1.20", "−∞", "1.2e-05": numbers as a lesson prints them.
std::string formatNumber(double v, int decimals);

}  // namespace attnscope::lessons
