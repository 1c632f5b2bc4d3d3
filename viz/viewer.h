// `attnscope view`: a window on the attention map. The camera moves at once; tiles are
// computed a budget at a time and refine what is shown, so the window keeps presenting
// frames while work goes on, on lavapipe as on a GPU. Scripts replay camera paths for tests
// and benchmarks, write screenshots and frame-time statistics, and exit.
#pragma once
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "compute/attention_spec.h"
#include "compute/head_data.h"
#include "compute/kernels.h"
#include "engine/context.h"
#include "engine/shader_compiler.h"
#include "viz/figure.h"

namespace attnscope {

struct ViewerOptions {
  uint32_t width = 1280, height = 800;
  bool vsync = true;
  HeatmapStyle style;
  uint64_t cacheBytes = 0;    // tile cache budget; 0: a quarter of the device's free memory, at most 512 MiB
  double frameMs = 30;        // frame time aimed at: drawn frames 4/5 of it, frames that only compute 3/5
  // false: while the view rests and work runs, frames between draws only compute (the
  // picture is drawn ~10 times a second) and give drawing's time to the sweep.
  bool drawEveryFrame = false;
  std::string screenshot;     // write a PNG of the settled view and exit
  std::string script;         // a JSON camera path (see docs in README)
  std::string title;          // input description
  uint32_t heads = 1, head = 0;
  std::vector<uint32_t> layers;     // layer numbers of the input (empty: one layer)
  uint32_t layer = 0;               // the layer number shown first
  std::vector<std::string> tokens;  // printable tokens, one per row (empty: indices only)
};

// A head read for the viewer, and the attention its layer was computed with when the input
// says (a capture's metadata: layers of one model can differ in mask, window, scale, cap).
struct LoadedHead {
  HeadData head;
  std::optional<AttentionSpec> spec;  // the viewer keeps its own temperature
};

// Loads head h of layer L (a number from ViewerOptions::layers, or 0) on the viewer's
// device (the head and layer keys switch them).
using HeadLoader = std::function<LoadedHead(Context& ctx, Kernels& kernels, uint32_t layer, uint32_t head)>;

// Creates the window and its own validated-or-not Vulkan context from `device` options.
// Returns the process exit code.
int runViewer(const ContextOptions& device, const AttentionSpec& spec, const ViewerOptions& options,
              const HeadLoader& loadHead);

// Window-system instance extensions, for the caller's Context (throws Error without a display).
std::vector<std::string> viewerInstanceExtensions();

}  // namespace attnscope
