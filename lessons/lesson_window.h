// The lessons in a window: → / Space / Page Down next step, ← / Page Up previous, Tab the
// next lesson, Esc quits. Each step is drawn at the window's size, so text stays crisp when
// the window grows.
#pragma once
#include <memory>
#include <vector>

#include "engine/context.h"
#include "lessons/lessons.h"

namespace attnscope::lessons {

struct LessonWindowOptions {
  uint32_t width = 1280, height = 800;
  bool autoplay = false;  // show every step of the lesson once, then exit (tests, demos)
};

// Opens at lesson `first` (its index in loadLessons()), or at the contents page when
// first == kContents. The window loads its own lessons after its device exists, so the
// lessons' device objects go before the device does. Returns the process exit code.
constexpr size_t kContents = size_t(-1);
int runLessonWindow(const ContextOptions& device, size_t first, const LessonWindowOptions& options);

}  // namespace attnscope::lessons
