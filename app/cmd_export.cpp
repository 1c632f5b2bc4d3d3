#include <cmath>
#include <cstdio>
#include <limits>

#include "app/commands.h"
#include "app/progress.h"
#include "compute/npy.h"
#include "engine/error.h"

namespace attnscope {

void addExportCommand(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "export", "Write the exact probabilities (or logits) of a rectangle as a float32 .npy of shape [rows, cols] (or [heads, rows, cols] with --all-heads)");
  struct Opts {
    DeviceOptions device;
    InputOptions input;
    AttentionOptions attention;
    RegionOptions region;
    std::string out = "attention.npy";
    bool logits = false;
    bool allHeads = false;
    bool quiet = false;
  };
  auto o = std::make_shared<Opts>();
  o->device.add(*cmd);
  o->input.add(*cmd, 1024);
  o->attention.add(*cmd);
  o->region.add(*cmd);
  cmd->add_option("-o,--out", o->out, ".npy file to write")->capture_default_str();
  cmd->add_flag("--logits", o->logits, "Write the logits s_ij (masked cells as -inf) instead of p_ij");
  cmd->add_flag("--all-heads", o->allHeads,
                "Every head of the layer (files only): writes [heads, rows, cols], head h at [h]");
  cmd->add_flag("-q,--quiet", o->quiet, "No progress bar");
  cmd->callback([o] {
    if (!o->input.fromFiles()) {
      if (o->allHeads) throw Error("--all-heads exports every head of a file's layer; give --q/--k or --qkv");
      o->region.resolve(syntheticAttention(o->attention, o->input).spec);
    }
    Session s(o->device);
    uint32_t heads = 1;
    if (o->allHeads) heads = openInputFiles(o->input, false).heads;
    std::unique_ptr<NpyWriter> writer;
    MapRegion region;
    ProgressBar bar(o->logits ? "exporting logits" : "exporting p", o->quiet);
    CommandStream stream(*s.ctx);
    std::vector<float> row;
    for (uint32_t h = 0; h < heads; ++h) {
      InputOptions input = o->input;
      if (o->allHeads) input.head = h;
      LoadedInput in = loadInput(s, input, o->attention, false, true);
      if (!writer) {
        region = o->region.resolve(in.spec);
        writer = std::make_unique<NpyWriter>(o->out, region.rows(), region.cols(), o->allHeads ? heads : 0);
      }
      uint64_t planeRow = uint64_t(h) * region.rows();
      // One cell per texel, in tiles that keep the image small (2048^2 x 16 bytes = 64 MiB).
      const uint64_t tile = 2048;
      uint64_t tilesTotal = ((region.rows() + tile - 1) / tile) * ((region.cols() + tile - 1) / tile), tilesDone = 0;
      for (uint64_t r0 = region.rowBegin; r0 < region.rowEnd; r0 += tile)
        for (uint64_t c0 = region.colBegin; c0 < region.colEnd; c0 += tile) {
          MapRegion t{r0, std::min(r0 + tile, region.rowEnd), c0, std::min(c0 + tile, region.colEnd)};
          MapJob job(*s.ctx, *s.kernels, in.head, in.spec, t, uint32_t(t.cols()), uint32_t(t.rows()));
          while (!job.done()) {
            if (cancelRequested()) throw Cancelled();
            Recording rec = stream.begin();
            job.recordNext(rec);
            stream.submitAndWait();
            bar.update((h + (tilesDone + job.progress()) / double(tilesTotal)) / heads);
          }
          std::vector<float> texels = readbackImage(*s.ctx, job.image());
          row.resize(t.cols());
          for (uint64_t y = 0; y < t.rows(); ++y) {
            for (uint64_t x = 0; x < t.cols(); ++x) {
              row[x] = cellValue(&texels[(y * t.cols() + x) * 4], o->logits);
            }
            writer->write(planeRow + t.rowBegin - region.rowBegin + y, t.colBegin - region.colBegin, row.data(), row.size());
          }
          ++tilesDone;
        }
    }
    writer->commit();
    bar.finish();
    std::printf("wrote %s: float32 [%s%llu, %llu] %s\n", o->out.c_str(),
                o->allHeads ? (std::to_string(heads) + ", ").c_str() : "", (unsigned long long)region.rows(),
                (unsigned long long)region.cols(), o->logits ? "logits" : "probabilities");
  });
}

}  // namespace attnscope
