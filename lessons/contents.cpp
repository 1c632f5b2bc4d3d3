// The contents page of the lessons.
#include "lessons/lesson.h"

namespace attnscope::lessons {

Scene drawContents(const FontAtlas& font, const std::vector<std::unique_ptr<Lesson>>& lessons, size_t selected,
                   uint32_t width, uint32_t height, std::vector<Rect>* rows) {
  Slide slide(font, width, height);
  slide.header("attnscope lessons: attention, live", 0, 0, "every number computed by the GPU passes that draw 100k-token maps");
  Rect c = slide.content();
  float line = 58 * slide.scale(), y = c.y + 10 * slide.scale();
  if (rows) rows->clear();
  for (size_t i = 0; i < lessons.size(); ++i) {
    Rect r{c.x, y, c.w, line - 6 * slide.scale()};
    if (i == selected) slide.rect(r, rgba(252, 232, 214));
    slide.text(std::to_string(i + 1), r.x + 30 * slide.scale(), r.y + r.h / 2, slide.titleSize(), kAccent, 1);
    slide.text(lessons[i]->title(), r.x + 70 * slide.scale(), r.y + r.h * 0.35f, slide.bodySize(), kInk);
    slide.text(lessons[i]->name() + "  \u00b7  " + std::to_string(lessons[i]->steps()) + " steps", r.x + 70 * slide.scale(),
               r.y + r.h * 0.75f, TextSize::Small, kSoftInk);
    if (rows) rows->push_back(r);
    y += line;
  }
  slide.caption("Click a lesson or press its number (\u2191 \u2193 and Enter work too). In a lesson: \u2190 \u2192 step, "
                "Esc back here; the panel's controls change the lesson's inputs.");
  return slide.finish();
}

}  // namespace attnscope::lessons
