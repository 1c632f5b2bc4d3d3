#include <cstdio>

#include "app/commands.h"
#include "bench/attn_bench.h"

namespace attnscope {

void addBenchCommand(CLI::App& app) {
  auto* cmd = app.add_subcommand("bench", "Measure the passes and print JSON (GFLOP/s, ms, % of the device's FMA peak)");
  struct Opts {
    DeviceOptions device;
    BenchOptions bench;
    bool noOverview = false;
    bool noNumpy = false;
    bool noRowStats = false;
    bool noView = false;
  };
  auto o = std::make_shared<Opts>();
  o->device.add(*cmd);
  cmd->add_flag("--quick", o->bench.quick, "Small sizes (a smoke run)");
  cmd->add_flag("--no-row-stats", o->noRowStats, "Skip the row statistics (tuned and untuned)");
  cmd->add_flag("--no-view", o->noView, "Skip the 1:1 1280x720 view at 100 000 tokens");
  cmd->add_flag("--no-overview", o->noOverview, "Skip the 100 000-token whole-map overview");
  cmd->add_option("--overview-tokens", o->bench.overviewTokens, "Tokens of the overview")->capture_default_str();
  cmd->add_option("--numpy-python", o->bench.python,
                  "Python with numpy for the side-by-side overview (default: $ATTNSCOPE_PYTHON, /usr/bin/python3, python3)");
  cmd->add_flag("--no-numpy", o->noNumpy, "Skip the side-by-side overview against numpy");
  cmd->add_flag("--untuned", o->bench.untuned,
                "Use the fixed default kernels instead of the ones tuned for this device (to compare)");
  cmd->callback([o] {
    o->bench.overview = !o->noOverview;
    o->bench.numpyPeer = !o->noNumpy;
    o->bench.rowStats = !o->noRowStats;
    o->bench.view = !o->noView;
    Session s(o->device);
    nlohmann::json j = runBenchmarks(s, o->bench);
    std::printf("%s\n", j.dump(2).c_str());
  });
}

}  // namespace attnscope
