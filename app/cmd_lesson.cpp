#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include "app/commands.h"
#include "app/progress.h"
#include "engine/error.h"
#include "lessons/lesson_window.h"
#include "lessons/lessons.h"
#include "viz/figure_renderer.h"

namespace attnscope {

namespace {

bool hasDisplay() {
  const char* x = std::getenv("DISPLAY");
  const char* wl = std::getenv("WAYLAND_DISPLAY");
  return (x && *x) || (wl && *wl);
}

}  // namespace

void addLessonCommand(CLI::App& app) {
  auto* cmd = app.add_subcommand("lesson",
                                 "The attention lessons as live pictures: list them, open one in a window "
                                 "(arrow keys step), or write its steps as PNGs for slides (--out DIR)");
  struct Opts {
    DeviceOptions device;
    std::string name, out;
    uint32_t width = 1280, height = 800;
    bool autoplay = false, quiet = false, list = false;
  };
  auto o = std::make_shared<Opts>();
  o->device.add(*cmd);
  cmd->add_option("name", o->name, "Which lesson (none: list them)");
  cmd->add_option("--out", o->out, "Write every step as DIR/NAME-STEP.png instead of opening a window");
  cmd->add_option("--width", o->width, "Picture or window width in pixels (1920 x 1080 for slides)")->capture_default_str();
  cmd->add_option("--height", o->height, "Picture or window height in pixels")->capture_default_str();
  cmd->add_flag("--autoplay", o->autoplay, "Window: show every step once and exit");
  cmd->add_flag("--list", o->list, "Only list the lessons (no window)");
  cmd->add_flag("-q,--quiet", o->quiet, "No progress bar");
  cmd->callback([o] {
    // The catalogue (names, titles, steps) touches no device; whoever draws loads the lessons
    // again after its device exists, so their device objects go first.
    auto lessons = lessons::loadLessons();
    if (o->name.empty()) {
      std::printf("lessons (attnscope lesson NAME opens one; --out DIR writes its steps as PNGs):\n");
      for (const auto& l : lessons)
        std::printf("  %-20s %2zu steps  %s\n", l->name().c_str(), l->steps(), l->title().c_str());
      if (o->list) return;
      if (!o->out.empty()) {  // the contents page as a picture
        std::error_code ec;
        std::filesystem::create_directories(o->out, ec);
        Session s(o->device);
        ScenePngWriter writer(*s.ctx, s.pngRenderer());  // the contents page holds no device objects
        std::string path = (std::filesystem::path(o->out) / "contents.png").string();
        writer.write(lessons::drawContents(writer.font(), lessons, 0, o->width, o->height), path);
        std::printf("wrote %s\n", path.c_str());
        return;
      }
      if (!hasDisplay()) {
        std::printf("(no display for the window: attnscope lesson NAME --out DIR writes a lesson's steps as PNGs)\n");
        return;
      }
      lessons::LessonWindowOptions wo;
      wo.width = o->width;
      wo.height = o->height;
      wo.autoplay = o->autoplay;
      int rc = lessons::runLessonWindow(o->device.context(), lessons::kContents, wo);
      if (rc != 0) throw Error("the lesson window stopped with code " + std::to_string(rc));
      return;
    }
    size_t index = lessons.size();
    std::string names;
    for (size_t i = 0; i < lessons.size(); ++i) {
      if (lessons[i]->name() == o->name) index = i;
      names += (i ? ", " : "") + lessons[i]->name();
    }
    if (index == lessons.size()) throw Error("no lesson '" + o->name + "': the lessons are " + names);
    if (o->width < 640 || o->height < 400 || o->width > 8192 || o->height > 8192)
      throw Error("lesson pictures must be between 640 x 400 and 8192 x 8192 pixels");
    if (o->out.empty()) {
      if (!hasDisplay())
        throw Error("no display for the lesson window (DISPLAY is not set): run it on a desktop, under xvfb-run, "
                    "or write its steps as PNGs with 'attnscope lesson " + o->name + " --out DIR'");
      lessons::LessonWindowOptions wo;
      wo.width = o->width;
      wo.height = o->height;
      wo.autoplay = o->autoplay;
      int rc = lessons::runLessonWindow(o->device.context(), index, wo);
      if (rc != 0) throw Error("the lesson window stopped with code " + std::to_string(rc));
      return;
    }
    std::error_code ec;
    std::filesystem::create_directories(o->out, ec);
    if (!std::filesystem::is_directory(o->out)) throw Error("cannot create folder '" + o->out + "'");
    Session s(o->device);
    auto drawn = lessons::loadLessons();  // after the session: destroyed before it
    ScenePngWriter writer(*s.ctx, s.pngRenderer());
    lessons::LessonEnv env{*s.ctx, *s.kernels, writer.font()};
    lessons::Lesson& l = *drawn[index];
    ProgressBar bar("lesson " + l.name(), o->quiet);
    for (size_t step = 0; step < l.steps(); ++step) {
      if (cancelRequested()) throw Cancelled();
      char file[64];
      std::snprintf(file, sizeof file, "%s-%02zu.png", l.name().c_str(), step + 1);
      writer.write(l.draw(env, step, o->width, o->height), (std::filesystem::path(o->out) / file).string());
      bar.update(double(step + 1) / l.steps());
    }
    bar.finish();
    std::printf("wrote %zu steps of '%s' to %s/%s-*.png\n", l.steps(), l.name().c_str(), o->out.c_str(), l.name().c_str());
  });
}

}  // namespace attnscope
