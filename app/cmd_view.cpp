#include <cstdio>

#include "app/commands.h"
#include "compute/npy.h"
#include "engine/error.h"
#include "viz/viewer.h"

namespace attnscope {

void addViewCommand(CLI::App& app) {
  auto* cmd = app.add_subcommand("view", "Open a window on the attention map: zoom from the whole map to single cells");
  struct Opts {
    DeviceOptions device;
    InputOptions input;
    AttentionOptions attention;
    StyleOptions style;
    ViewerOptions viewer;
    uint64_t cacheMiB = 0;  // 0: from the device's memory budget
    bool noVsync = false;
  };
  auto o = std::make_shared<Opts>();
  o->device.add(*cmd);
  o->input.add(*cmd, 100000);
  o->attention.add(*cmd);
  o->style.add(*cmd, 1280, 800);
  cmd->add_option("--cache-mib", o->cacheMiB,
                  "GPU memory for cached tiles, in MiB (default: a quarter of what the device has free, at most 512)");
  cmd->add_flag("--no-vsync", o->noVsync, "Present as fast as possible");
  cmd->add_option("--screenshot", o->viewer.screenshot, "Wait until the view is exact, write it to this PNG and exit");
  cmd->add_option("--script", o->viewer.script, "Replay a JSON camera path (zoom, pan, hover, keys, screenshots) and exit");
  cmd->add_option("--frame-ms", o->viewer.frameMs,
                  "Frame time to aim at (compute fills what drawing leaves; a drawn frame aims at 4/5 of it, one that only "
                  "computes while the view rests at 3/5; with --draw-every-frame a resting frame takes all of it)")
      ->check(CLI::Range(5.0, 1000.0))
      ->capture_default_str();
  cmd->add_flag("--draw-every-frame", o->viewer.drawEveryFrame,
                "Draw every frame while the view rests too (by default frames between draws only compute, and the "
                "resting picture is drawn ~10 times a second)");
  cmd->callback([o] {
    HeatmapStyle style = o->style.style();
    o->viewer.style = style;
    o->viewer.width = o->style.width;
    o->viewer.height = o->style.height;
    o->viewer.vsync = !o->noVsync;
    o->viewer.cacheBytes = o->cacheMiB << 20;  // 0: the viewer sizes it from the device's budget
    ViewInput in = openViewInput(o->input, o->attention);
    o->viewer.heads = in.heads;
    o->viewer.head = in.head;
    o->viewer.layers = in.layers;
    o->viewer.layer = in.layer;
    o->viewer.title = in.title;
    o->viewer.tokens = in.tokens;
    int rc = runViewer(o->device.context(), in.spec, o->viewer, in.loader);
    if (rc != 0) throw Error("the viewer stopped with code " + std::to_string(rc));
  });
}

ViewInput openViewInput(const InputOptions& input, const AttentionOptions& attention) {
  ViewInput v;
  if (input.fromFiles()) {
    input.checkRelevant();
    std::optional<uint64_t> tokenCount = tokenFileCount(input);  // read once, not at every switch
    QKSources src = openInputFiles(input, false, tokenCount);
    v.spec = attentionFor(attention, input, src).spec;
    v.heads = src.heads;
    v.head = input.head;
    v.layers = src.layers;
    v.layer = src.layer.value_or(0);
    v.title = "attention  " + (input.qkvPath.empty() ? "Q " + input.qPath : input.qkvPath);
    // Each head of each layer is read from the file when it is shown (the files are
    // memory-mapped, so opening them again costs only the header). Every layer brings its
    // own attention from the capture's metadata (Gemma-2 alternates sliding windows).
    v.loader = [input, attention, spec = v.spec, tokenCount](Context& ctx, Kernels& kernels,
                                                                           uint32_t layer, uint32_t head) {
      InputOptions in = input;
      in.head = head;
      if (input.layer || layer != 0) in.layer = layer;
      QKSources s = openInputFiles(in, false, tokenCount);
      if (s.n() != spec.n || s.d() != spec.d)
        throw Error("layer " + std::to_string(layer) + " has a different shape from the first one shown");
      ResolvedAttention att = attentionFor(attention, in, s);
      LoadedHead h{uploadHead(ctx, s, false, false), std::nullopt};
      applyRopeIfAsked(ctx, kernels, h.head, att);
      if (s.metadata) h.spec = att.spec;
      return h;
    };
  } else {
    ResolvedAttention att = syntheticAttention(attention, input);
    SyntheticSpec syn = input.synthetic(false);
    v.spec = att.spec;
    v.heads = syn.heads;
    v.head = syn.head;
    v.title = std::string("attention  preset ") + presetName(syn.preset);
    v.loader = [syn, att](Context& ctx, Kernels& kernels, uint32_t, uint32_t head) {
      SyntheticSpec s = syn;
      s.head = head;
      LoadedHead h{generateHead(ctx, kernels, s), std::nullopt};
      applyRopeIfAsked(ctx, kernels, h.head, att);
      return h;
    };
  }
  v.tokens = visibleTokens(input, v.spec.n);
  return v;
}

}  // namespace attnscope
