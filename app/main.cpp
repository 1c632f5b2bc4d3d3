// attnscope: attention maps and positional encodings on any Vulkan device.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <string>

#include "app/commands.h"
#include "app/progress.h"
#include "compute/tokens.h"
#include "engine/error.h"

int main(int argc, char** argv) {
  CLI::App app{
      "attnscope: attention maps (softmax(QK^T/sqrt(d)) with masks, heads, temperature) computed by Vulkan "
      "compute shaders on any GPU or CPU, drawn as zoomable heatmaps.",
      "attnscope"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "attnscope 0.1.0");
  attnscope::addDemoCommand(app);
  attnscope::addViewCommand(app);
  attnscope::addServeCommand(app);
  attnscope::addLessonCommand(app);
  attnscope::addRenderCommand(app);
  attnscope::addExportCommand(app);
  attnscope::addInfoCommand(app);
  attnscope::addBenchCommand(app);
  attnscope::addTuneCommand(app);
  attnscope::installCancelHandler();
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const attnscope::Cancelled&) {
    std::fprintf(stderr, "\nattnscope: cancelled; nothing was written\n");
    return 130;
  } catch (const attnscope::OutOfDeviceMemory& e) {
    // The engine says what ran out; what the user can change depends on the command.
    std::string command = app.get_subcommands().empty() ? "" : app.get_subcommands()[0]->get_name();
    const char* advice = command == "view" ? "use fewer tokens or a smaller --cache-mib, or close other programs using the GPU"
                         : command == "render" || command == "export"
                             ? "use fewer tokens, a smaller head dimension or a smaller --rows/--cols rectangle"
                         : command == "lesson" ? "close other programs using the GPU"
                                               : "use fewer tokens or a smaller head dimension, or close other programs using the GPU";
    std::fprintf(stderr, "attnscope: error: %s: %s\n", attnscope::excerpt(e.what(), 4000).c_str(), advice);
    return 1;
  } catch (const attnscope::Error& e) {
    // One line whatever the message holds (file text is escaped where it is quoted; this
    // is the backstop).
    std::fprintf(stderr, "attnscope: error: %s\n", attnscope::excerpt(e.what(), 4000).c_str());
    return 1;
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr, "attnscope: error: out of host memory: use fewer tokens or a smaller output\n");
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "attnscope: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
