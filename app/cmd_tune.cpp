#include <cstdio>

#include "app/commands.h"
#include "app/progress.h"
#include "compute/attention_spec.h"
#include "engine/context.h"

namespace attnscope {

namespace {

void printReport(const TuneReport& r) {
  std::printf("d = %u (padded):\n", r.dp);
  std::printf("  %-22s", "variant");
  for (int i = 0; i < kBlockShapes; ++i) std::printf(" %12s", blockShapeName(BlockShape(i)));
  std::printf("   GFLOP/s by block shape\n");
  for (const CandidateTiming& c : r.candidates) {
    if (!c.correct) {
      std::printf("  %-22s left out: %s\n", c.variant.name().c_str(), c.problem.c_str());
      continue;
    }
    std::printf("  %-22s", c.variant.name().c_str());
    for (int i = 0; i < kBlockShapes; ++i)
      std::printf(" %10.1f%s", c.gflops[i], c.variant == r.chosen[i] ? " *" : "  ");
    std::printf("\n");
  }
  std::printf("  chosen (*):");
  for (int i = 0; i < kBlockShapes; ++i)
    std::printf("%s %s %s", i ? "," : "", blockShapeName(BlockShape(i)), r.chosen[i].name().c_str());
  std::printf("%s\n", r.fromCache ? " (from the cache)" : "");
}

}  // namespace

void addTuneCommand(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "tune", "Time the attention kernel's variants on this device and keep the fastest correct one per head "
              "dimension (done once on first use and cached; this reruns it)");
  struct Opts {
    DeviceOptions device;
    std::vector<uint32_t> dims{64};
    bool list = false, cached = false;
  };
  auto o = std::make_shared<Opts>();
  o->device.add(*cmd);
  cmd->add_option("-d,--dim", o->dims, "Head dimensions to tune (several allowed)")->capture_default_str();
  cmd->add_flag("--list", o->list, "List every variant that may run on this device (the candidates and their fallbacks) and exit");
  cmd->add_flag("--cached", o->cached, "Show what the cache holds instead of timing again");
  cmd->callback([o] {
    Session s(o->device);
    for (uint32_t d : o->dims) {
      if (d == 0 || d > 1024) throw Error("--dim " + std::to_string(d) + " is out of range: use 1 to 1024");
      uint32_t dp = paddedDim(d);
      if (o->list) {
        for (const BlockStatsVariant& v : s.kernels->blockStatsRunnable(dp)) std::printf("%s\n", v.name().c_str());
        continue;
      }
      ProgressBar bar("timing kernel variants for d = " + std::to_string(d));
      TuneReport r = s.tuner->prepare(dp, !o->cached, [&](double f) { bar.update(f); });
      bar.finish();
      if (r.forced) std::printf("ATTNSCOPE_KERNEL is set: %s is used, nothing was timed\n", r.chosen[0].name().c_str());
      else printReport(r);
      if (!r.fromCache && !r.forced)
        std::printf("  %.1f s, cached in %s\n", r.seconds,
                    s.tuner->cacheFile().empty() ? "(no cache folder)" : s.tuner->cacheFile().string().c_str());
    }
  });
}

}  // namespace attnscope
