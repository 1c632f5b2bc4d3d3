#include "viz/viewer.h"

#define GLFW_INCLUDE_VULKAN
#include <GLFW/glfw3.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>

#include "compute/gpu_session.h"
#include "engine/barriers.h"
#include "engine/device_memory.h"
#include "engine/commands.h"
#include "engine/error.h"
#include "viz/control_panel.h"
#include "viz/figure_renderer.h"
#include "viz/window_frames.h"
#include "viz/tile_view.h"
#include "viz/window.h"

namespace attnscope {

std::vector<std::string> viewerInstanceExtensions() { return Window::requiredInstanceExtensions(); }

namespace {

using Clock = std::chrono::steady_clock;

// One step of a scripted session.
struct ScriptStep {
  std::string kind;  // frames, zoom, pan, box, lookat, fit, hover, key, settle, screenshot
  double a = 0, b = 0, c = 0, d = 0;
  int frames = 1;
  std::string text;
  double timeout = 120;
};

std::vector<ScriptStep> loadScript(const std::string& path, std::string& statsPath) {
  std::ifstream in(path);
  if (!in) throw Error("cannot read script '" + path + "'");
  nlohmann::json j;
  try {
    in >> j;
  } catch (const nlohmann::json::exception& e) {
    throw Error("script '" + path + "' is not valid JSON: " + e.what());
  }
  std::vector<ScriptStep> steps;
  try {
    statsPath = j.value("stats", "");
    for (const auto& s : j.at("steps")) {
      ScriptStep st;
      st.frames = s.value("frames", 1);
      if (s.contains("zoom")) {
        st.kind = "zoom";
        st.a = s.at("zoom").get<double>();
        st.b = s.at("at").at(0).get<double>();
        st.c = s.at("at").at(1).get<double>();
      } else if (s.contains("pan")) {
        st.kind = "pan";
        st.a = s.at("pan").at(0).get<double>();
        st.b = s.at("pan").at(1).get<double>();
      } else if (s.contains("box")) {
        st.kind = "box";
        st.a = s["box"].at(0);
        st.b = s["box"].at(1);
        st.c = s["box"].at(2);
        st.d = s["box"].at(3);
      } else if (s.contains("lookat")) {
        st.kind = "lookat";
        st.a = s["lookat"].at(0);
        st.b = s["lookat"].at(1);
        st.c = s["lookat"].at(2);
      } else if (s.contains("panel")) {
        st.kind = "panel";
        st.a = s.at("panel").get<bool>() ? 1 : 0;
      } else if (s.contains("fit")) {
        st.kind = "fit";
      } else if (s.contains("click")) {
        st.kind = "click";
        st.a = s["click"].at(0);
        st.b = s["click"].at(1);
      } else if (s.contains("hover")) {
        st.kind = "hover";
        st.a = s["hover"].at(0);
        st.b = s["hover"].at(1);
      } else if (s.contains("key")) {
        st.kind = "key";
        st.text = s.at("key").get<std::string>();
      } else if (s.contains("settle")) {
        st.kind = "settle";
        st.timeout = s.value("timeout_s", 120.0);
        // "settle": "view" waits for the view's tiles only, not for the whole-map sweep.
        st.a = s.at("settle").is_string() && s.at("settle").get<std::string>() == "view" ? 1 : 0;
      } else if (s.contains("screenshot")) {
        st.kind = "screenshot";
        st.text = s.at("screenshot").get<std::string>();
      } else {
        st.kind = "frames";
      }
      steps.push_back(st);
    }
  } catch (const nlohmann::json::exception& e) {
    throw Error("script '" + path + "': " + e.what() + " (see the README for the step format)");
  }
  return steps;
}

int keyFromName(const std::string& name) {
  static const std::pair<const char*, int> keys[] = {
      {"Left", GLFW_KEY_LEFT}, {"Right", GLFW_KEY_RIGHT}, {"Up", GLFW_KEY_UP}, {"Down", GLFW_KEY_DOWN},
      {"+", GLFW_KEY_EQUAL},   {"-", GLFW_KEY_MINUS},     {"R", GLFW_KEY_R},   {"[", GLFW_KEY_LEFT_BRACKET},
      {"]", GLFW_KEY_RIGHT_BRACKET}, {"L", GLFW_KEY_L},   {"M", GLFW_KEY_M},   {"S", GLFW_KEY_S},
      {"G", GLFW_KEY_G}, {".", GLFW_KEY_PERIOD}, {",", GLFW_KEY_COMMA}, {"V", GLFW_KEY_V}, {"N", GLFW_KEY_N}, {"H", GLFW_KEY_H}, {"T", GLFW_KEY_T}, {"C", GLFW_KEY_C}, {"W", GLFW_KEY_W},
      {"Escape", GLFW_KEY_ESCAPE}};
  for (auto& [n, k] : keys)
    if (name == n) return k;
  throw Error("script: unknown key '" + name + "'");
}

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t i = size_t(std::clamp(p * (v.size() - 1), 0.0, double(v.size() - 1)) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

class Viewer {
 public:
  Viewer(const ContextOptions& device, const AttentionSpec& spec, const ViewerOptions& o, const HeadLoader& loader)
      : o_(o), spec_(spec), loader_(loader), window_(o.width, o.height, "attnscope") {
    ContextOptions co = device;
    co.instanceExtensions = Window::requiredInstanceExtensions();
    co.swapchain = true;
    gpu_ = std::make_unique<GpuSession>(co);
    ctx_ = gpu_->ctx.get();
    compiler_ = gpu_->compiler.get();
    kernels_ = gpu_->kernels.get();
    frames_ = std::make_unique<WindowFrames>(*ctx_, window_, o.vsync);
    renderer_ = std::make_unique<FigureRenderer>(*ctx_, *compiler_, frames_->swapchain().format(), VK_IMAGE_LAYOUT_PRESENT_SRC_KHR);
    panel_ = std::make_unique<ControlPanel>(*ctx_, window_.handle(), renderer_->renderPass(), frames_->swapchain().imageCount());
    // Scripted runs (tests, benchmarks, screenshots) measure and show the map alone.
    panel_->setVisible(o.script.empty() && o.screenshot.empty());
    frames_->attach(renderer_->renderPass());
    arena_ = std::make_unique<DescriptorArena>(*ctx_);
    timer_ = std::make_unique<GpuTimer>(*ctx_);
    layer_ = o.layer;
    head_ = std::make_unique<HeadData>(load(layer_, o.head));
    headIndex_ = o.head;
    // About 20 ms of compute a frame on lavapipe, leaving room for drawing under 100 ms even
    // when the CPU is shared.
    budget_ = o.flopsPerFrame > 0 ? o.flopsPerFrame : (ctx_->caps().type == VK_PHYSICAL_DEVICE_TYPE_CPU ? 6e8 : 5e10);
    resize();
    camera_.setMapSize(spec.n);
    o_.cacheBytes = cacheBudget(o.cacheBytes);
    tiles_ = std::make_unique<TileView>(*ctx_, *kernels_, *head_, spec_, o_.cacheBytes, camera_.cellsPerPixel(), budget_ / 2);
    readback_ = Buffer(*ctx_, 16 + 16, VK_BUFFER_USAGE_TRANSFER_DST_BIT, MemoryUse::Readback, "hover readback");

    // A provisional range until the whole-map tile is done: weights of about 1/n and up.
    range_ = {std::max(1e-12, 0.01 / double(spec.n)), 1.0};
    if (o.style.vmin) range_.vmin = *o.style.vmin;
    if (o.style.vmax) range_.vmax = *o.style.vmax;
    if (!o.style.logScale && !o.style.vmin) range_.vmin = 0;
    if (o.style.vmin && o.style.vmax) rangeMode_ = 2;  // fixed on the command line
  }

  ~Viewer() {
    if (ctx_) ctx_->waitIdleInDestructor();
    tiles_.reset();
    head_.reset();
    panel_.reset();
    frames_.reset();
    renderer_.reset();
  }

  int run() {
    std::vector<ScriptStep> steps;
    std::string statsPath;
    if (!o_.script.empty()) steps = loadScript(o_.script, statsPath);
    if (!o_.screenshot.empty()) {
      steps.push_back({"settle"});
      steps.push_back({"screenshot", 0, 0, 0, 0, 1, o_.screenshot});
    }
    bool scripted = !steps.empty();
    size_t stepIndex = 0;
    int stepFrames = 0;
    Clock::time_point settleStart{};
    bool settling = false;
    nlohmann::json settles = nlohmann::json::array(), viewExacts = nlohmann::json::array();
    double viewExact = -1;
    std::vector<double> frameMs, zoomFrameMs;

    auto last = Clock::now();
    while (!window_.closeRequested()) {
      window_.poll();
      if (window_.minimised()) {
        glfwWaitEventsTimeout(0.1);
        continue;
      }
      bool zooming = false;
      // Scripted input: one step at a time, some over several frames.
      if (scripted) {
        if (stepIndex >= steps.size()) break;
        const ScriptStep& st = steps[stepIndex];
        bool advance = false;
        if (st.kind == "zoom") {
          camera_.zoomAbout(st.b - plot_.x, st.c - plot_.y, st.a);
          zooming = true;
          advance = ++stepFrames >= st.frames;
        } else if (st.kind == "pan") {
          camera_.pan(st.a, st.b);
          zooming = true;
          advance = ++stepFrames >= st.frames;
        } else if (st.kind == "box") {
          camera_.zoomToBox(st.a - plot_.x, st.b - plot_.y, st.c - plot_.x, st.d - plot_.y);
          advance = true;
        } else if (st.kind == "lookat") {
          camera_.lookAt(st.a, st.b, st.c);
          advance = true;
        } else if (st.kind == "panel") {
          panel_->setVisible(st.a != 0);
          advance = true;
        } else if (st.kind == "fit") {
          camera_.fit();
          advance = true;
        } else if (st.kind == "click") {  // a left click: press and release without moving
          InputEvent e;
          e.x = st.a;
          e.y = st.b;
          e.type = InputEvent::ButtonDown;
          handle(e);
          e.type = InputEvent::ButtonUp;
          handle(e);
          advance = true;
        } else if (st.kind == "hover") {
          hoverX_ = st.a;
          hoverY_ = st.b;
          advance = true;
        } else if (st.kind == "key") {
          InputEvent e;
          e.type = InputEvent::Key;
          e.key = keyFromName(st.text);
          handle(e);
          advance = true;
        } else if (st.kind == "settle") {
          if (!settling) {
            settling = true;
            settleStart = Clock::now();
          }
          double waited = std::chrono::duration<double>(Clock::now() - settleStart).count();
          // The view's own tiles are exact (what the user waits for) ...
          if (viewExact < 0 && viewSettled()) viewExact = waited;
          // ... and then all work is done: the whole-map sweep behind the strips and range too.
          if (viewSettled() && (!busy_ || st.a == 1)) {
            settles.push_back(round3(waited));
            viewExacts.push_back(round3(viewExact));
            viewExact = -1;
            settling = false;
            advance = true;
          } else if (waited > st.timeout) {
            throw Error("script: the view did not settle within " + std::to_string(st.timeout) + " s");
          }
        } else if (st.kind == "screenshot") {
          if (screenshotPath_.empty() && !screenshotRequested_ && !screenshotDone_) {
            screenshotPath_ = st.text;
            screenshotRequested_ = true;
          }
          if (screenshotDone_) {
            screenshotDone_ = false;
            advance = true;
          }
        } else {
          advance = ++stepFrames >= st.frames;
        }
        if (advance) {
          ++stepIndex;
          stepFrames = 0;
        }
      }
      for (const InputEvent& e : window_.drainEvents()) handle(e);

      frame();
      auto now = Clock::now();
      double ms = std::chrono::duration<double, std::milli>(now - last).count();
      last = now;
      frameMs.push_back(ms);
      if (zooming) zoomFrameMs.push_back(ms);
    }
    ctx_->waitIdle();
    if (!statsPath.empty()) {
      nlohmann::json s;
      s["device"] = ctx_->caps().name;
      s["n"] = spec_.n;
      s["d"] = spec_.d;
      s["window"] = {extentW_, extentH_};
      s["frames"] = frameMs.size();
      auto stats = [&](const std::vector<double>& v) {
        return nlohmann::json{{"p50_ms", round3(percentile(v, 0.5))}, {"p95_ms", round3(percentile(v, 0.95))},
                              {"max_ms", round3(v.empty() ? 0 : *std::max_element(v.begin(), v.end()))},
                              {"frames", v.size()}};
      };
      s["frame_time"] = stats(frameMs);
      s["frame_time_while_moving"] = stats(zoomFrameMs);
      s["seconds_to_exact_after_camera_stops"] = viewExacts;
      s["seconds_until_all_work_done"] = settles;
      s["tiles_cached"] = tiles_->tilesCached();
      s["cache_bytes"] = tiles_->cacheBytes();
      s["cache_budget_bytes"] = o_.cacheBytes;
      s["view_device_bytes"] = tiles_->deviceBytes();
      s["device_bytes_in_use"] = ctx_->allocator().bytesInUse();
      s["device_allocations"] = ctx_->allocator().allocationCount();
      s["head"] = headIndex_;
      s["layer"] = layer_;
      s["mask"] = maskName(spec_.mask);
      s["mask_window"] = spec_.window;
      s["softcap"] = spec_.softcap ? *spec_.softcap : 0.0;
      s["grid"] = grid_;
      s["flops"] = tiles_->flopsDone();
      std::ofstream(statsPath) << s.dump(2) << "\n";
    }
    return 0;
  }

 private:
  static double round3(double v) { return std::round(v * 1000.0) / 1000.0; }

  void resize() {
    extentW_ = frames_->swapchain().extent().width;
    extentH_ = frames_->swapchain().extent().height;
    FigureLayout l = layoutFigure(extentW_, extentH_, true);
    plot_ = l.plot;
    camera_.setViewport(plot_.w, plot_.h);
  }

  void recreateSwapchain() {
    if (frames_->recreate()) resize();
  }

  void switchHead(int delta) {
    if (o_.heads <= 1) return;
    showHead(layer_, uint32_t((int(headIndex_) + delta + int(o_.heads)) % int(o_.heads)));
  }

  // Reads head `head` of layer `layer` and starts its tiles afresh.
  void showHead(uint32_t layer, uint32_t head) {
    ctx_->waitIdle();  // jobs in flight use the head and tiles that go
    tiles_.reset();
    head_ = std::make_unique<HeadData>(load(layer, head));
    layer_ = layer;
    headIndex_ = head;
    tiles_ = std::make_unique<TileView>(*ctx_, *kernels_, *head_, spec_, o_.cacheBytes, overviewCamera().cellsPerPixel(), budget_ / 2);
    rangeFromData_ = false;
    stripsReady_ = false;
  }

  // The tile cache's budget: what was asked for, else a quarter of the device memory still
  // free (VK_EXT_memory_budget where offered) and at most 512 MiB. It must hold the tiles
  // of one view (visible tiles are never evicted), so less than that is an error.
  uint64_t cacheBudget(uint64_t asked) const {
    uint64_t tile = uint64_t(kTileTexels) * kTileTexels * 16;
    uint64_t view = uint64_t(std::ceil(plot_.w / kTileTexels) + 1) * uint64_t(std::ceil(plot_.h / kTileTexels) + 1) * tile;
    if (asked) {
      if (asked < view)
        throw Error("--cache-mib " + std::to_string(asked >> 20) + " cannot hold the tiles of one " +
                    std::to_string(extentW_) + "x" + std::to_string(extentH_) + " view (" +
                    std::to_string((view + (1 << 20) - 1) >> 20) + " MiB): give at least that");
      return asked;
    }
    uint64_t free = ctx_->deviceLocalBudget();
    uint64_t pick = std::min<uint64_t>(uint64_t(512) << 20, free ? free / 4 : uint64_t(512) << 20);
    return std::max(pick, view);
  }

  // Reads a head; a layer that says how it was computed (its own mask, window, scale or
  // cap) brings that along, and the temperature stays the viewer's.
  HeadData load(uint32_t layer, uint32_t head) {
    LoadedHead h = loader_(*ctx_, *kernels_, layer, head);
    if (h.spec) {
      double t = spec_.temperature;
      spec_ = *h.spec;
      spec_.temperature = t;
    }
    return std::move(h.head);
  }

  // Another layer: every head shown is read again from the file and its tiles start afresh.
  void switchLayer(int delta) {
    const auto& ls = o_.layers;
    if (ls.size() <= 1) return;
    size_t at = std::find(ls.begin(), ls.end(), layer_) - ls.begin();
    showHead(ls[(at + ls.size() + delta) % ls.size()], headIndex_);
    gridHeads_.clear();  // the small multiples were the old layer's heads
    if (grid_) {
      grid_ = false;
      setGrid(true);
    }
  }

  // New parameters: the cached tiles are stale at once and are never drawn again.
  void changeSpec(const AttentionSpec& s) {
    ctx_->waitIdle();  // jobs in flight write images that are about to go
    spec_ = s;
    tiles_->setSpec(spec_);
    for (auto& g : gridHeads_) g.tiles->setSpec(spec_);
    rangeFromData_ = false;
    stripsReady_ = false;
  }

  static bool sameSpec(const AttentionSpec& a, const AttentionSpec& b) {
    return a.mask == b.mask && a.window == b.window && a.scale == b.scale && a.softcap == b.softcap &&
           a.temperature == b.temperature && a.queryBegin == b.queryBegin;
  }

  // The panel edits a copy of the settings; whatever changed is applied here.
  void buildPanel() {
    ViewControls c;
    c.spec = spec_;
    c.style = o_.style;
    c.rangeMode = rangeMode_;
    c.vmin = float(range_.vmin);
    c.vmax = float(range_.vmax);
    c.head = int(headIndex_);
    c.heads = int(o_.heads);
    c.layers = o_.layers;
    c.layer = layer_;
    c.grid = grid_;
    c.normalize = normalize_;
    c.flops = tiles_->flopsDone();
    c.computeMs = lastGpu_.count("compute") ? lastGpu_["compute"] : 0;
    c.drawMs = lastGpu_.count("draw") ? lastGpu_["draw"] : 0;
    c.sweep = tiles_->sweepProgress();
    c.tiles = tiles_->tilesCached();
    c.cacheBytes = tiles_->cacheBytes();
    c.hover = hoverText_;
    panel_->build(c);
    if (!sameSpec(c.spec, spec_)) {
      try {
        c.spec.validate();
        changeSpec(c.spec);
      } catch (const Error&) {
        // Out-of-range values from the panel are ignored; the old settings stay.
      }
    }
    if (c.style.logScale != o_.style.logScale || c.style.channel != o_.style.channel) rangeFromData_ = false;
    o_.style.colormap = c.style.colormap;
    o_.style.logScale = c.style.logScale;
    o_.style.channel = c.style.channel;
    if (c.rangeMode != rangeMode_) {
      rangeMode_ = c.rangeMode;
      rangeFromData_ = false;
      viewRangeFor_ = {};
    }
    if (rangeMode_ == 2 && c.vmax > c.vmin && (!o_.style.logScale || c.vmin > 0)) range_ = {c.vmin, c.vmax};
    if (c.head != int(headIndex_)) switchHead(c.head - int(headIndex_));
    if (c.layer != layer_) {
      auto at = std::find(o_.layers.begin(), o_.layers.end(), c.layer);
      auto now = std::find(o_.layers.begin(), o_.layers.end(), layer_);
      if (at != o_.layers.end()) switchLayer(int(at - now));
    }
    if (c.grid != grid_) setGrid(c.grid);
    normalize_ = c.normalize;
    if (c.fitRequested) camera_.fit();
    if (c.screenshotRequested) requestScreenshot();
  }

  static constexpr uint32_t kMaxGridHeads = 16;

  // Everything on screen is exact: the main view, or every small multiple.
  bool viewSettled() {
    if (!grid_) return tiles_->settled(camera_);
    for (uint32_t g = 0; g < gridHeads_.size(); ++g)
      if (!gridHeads_[g].tiles->settled(gridCamera(gridCell(g)))) return false;
    return true;
  }

  uint32_t gridCount() const { return std::min(o_.heads, kMaxGridHeads); }

  // Subplot g of the grid, in window pixels.
  Rect gridCell(uint32_t g) const {
    uint32_t count = gridCount();
    uint32_t cols = uint32_t(std::ceil(std::sqrt(double(count))));
    uint32_t rows = (count + cols - 1) / cols;
    const float gap = 8;
    float w = (plot_.w - gap * (cols - 1)) / cols, h = (plot_.h - gap * (rows - 1)) / rows;
    float side = std::floor(std::min(w, h));
    uint32_t c = g % cols, r = g / cols;
    return {plot_.x + c * (side + gap), plot_.y + r * (side + gap), side, side};
  }

  // The camera of a subplot: the main view's centre and extent, squeezed into the cell.
  Camera gridCamera(const Rect& cell) const {
    Camera c;
    c.setViewport(cell.w, cell.h);
    c.setMapSize(spec_.n);
    double scale = std::max(plot_.w / cell.w, plot_.h / cell.h);
    c.lookAt(camera_.cellX(plot_.w / 2), camera_.cellY(plot_.h / 2), camera_.cellsPerPixel() * scale);
    return c;
  }

  int gridCellAt(double x, double y) const {
    for (uint32_t g = 0; g < gridCount(); ++g) {
      Rect r = gridCell(g);
      if (x >= r.x && y >= r.y && x < r.x + r.w && y < r.y + r.h) return int(g);
    }
    return -1;
  }

  void setGrid(bool on) {
    if (on == grid_ || o_.heads <= 1) return;
    grid_ = on;
    rangeFromData_ = false;
    if (!on) return;
    ctx_->waitIdle();
    if (gridHeads_.empty()) {
      for (uint32_t h = 0; h < gridCount(); ++h) {
        HeadSlot s;
        s.head = std::make_unique<HeadData>(load(layer_, h));
        Camera cam = gridCamera(gridCell(h));
        cam.fit();
        s.tiles = std::make_unique<TileView>(*ctx_, *kernels_, *s.head, spec_, o_.cacheBytes / gridCount(), cam.cellsPerPixel(), budget_ / 2);
        gridHeads_.push_back(std::move(s));
      }
    }
    for (auto& s : gridHeads_)
      if (!sameSpec(s.tiles->spec(), spec_)) s.tiles->setSpec(spec_);
  }

  void requestScreenshot() {
    char name[64];
    std::snprintf(name, sizeof name, "attnscope-screenshot-%d.png", ++screenshotCount_);
    screenshotPath_ = name;
    screenshotRequested_ = true;
  }

  void handle(const InputEvent& e) {
    bool mouse = e.type != InputEvent::Key;
    if (mouse && e.type != InputEvent::Move && panel_->wantsMouse()) return;  // the panel's click or wheel
    if (!mouse && panel_->wantsKeyboard()) return;
    if (e.type == InputEvent::Move && panel_->wantsMouse()) {
      dragging_ = false;
      return;
    }
    double px = e.x - plot_.x, py = e.y - plot_.y;
    if (grid_) {
      int g = gridCellAt(e.x, e.y);
      if (g >= 0) {  // the same cell in the linked main view
        Rect r = gridCell(uint32_t(g));
        Camera sub = gridCamera(r);
        px = camera_.pixelX(sub.cellX(e.x - r.x));
        py = camera_.pixelY(sub.cellY(e.y - r.y));
      }
      if (e.type == InputEvent::ButtonDown && e.button == 0) clickCandidate_ = true;
      if (e.type == InputEvent::Move && dragging_) clickCandidate_ = false;
      if (e.type == InputEvent::ButtonUp && e.button == 0 && clickCandidate_ && g >= 0) {
        clickCandidate_ = false;
        dragging_ = false;
        setGrid(false);
        switchHead(g - int(headIndex_));  // focus the head that was clicked
        return;
      }
    }
    switch (e.type) {
      case InputEvent::Scroll:
        camera_.zoomAbout(px, py, std::pow(1.25, e.scroll));
        break;
      case InputEvent::ButtonDown:
        if (e.button == 0) {
          dragging_ = true;
          boxing_ = e.mods & GLFW_MOD_SHIFT;
          dragX_ = e.x;
          dragY_ = e.y;
          boxX_ = e.x;
          boxY_ = e.y;
        }
        break;
      case InputEvent::ButtonUp:
        if (e.button == 0 && dragging_ && boxing_)
          camera_.zoomToBox(boxX_ - plot_.x, boxY_ - plot_.y, e.x - plot_.x, e.y - plot_.y);
        dragging_ = false;
        boxing_ = false;
        break;
      case InputEvent::Move:
        if (dragging_ && !boxing_) {
          double scale = 1;
          if (grid_) {
            Rect r = gridCell(0);
            scale = std::max(plot_.w / r.w, plot_.h / r.h);  // a drag in a small multiple moves as far
          }
          camera_.pan((e.x - dragX_) * scale, (e.y - dragY_) * scale);
        }
        dragX_ = e.x;
        dragY_ = e.y;
        hoverX_ = e.x;
        hoverY_ = e.y;
        break;
      case InputEvent::Key: {
        double step = std::min(plot_.w, plot_.h) / 8;
        switch (e.key) {
          case GLFW_KEY_LEFT: camera_.pan(step, 0); break;
          case GLFW_KEY_RIGHT: camera_.pan(-step, 0); break;
          case GLFW_KEY_UP: camera_.pan(0, step); break;
          case GLFW_KEY_DOWN: camera_.pan(0, -step); break;
          case GLFW_KEY_EQUAL: case GLFW_KEY_KP_ADD: camera_.zoomAbout(plot_.w / 2, plot_.h / 2, 1.5); break;
          case GLFW_KEY_MINUS: case GLFW_KEY_KP_SUBTRACT: camera_.zoomAbout(plot_.w / 2, plot_.h / 2, 1 / 1.5); break;
          case GLFW_KEY_R: camera_.fit(); break;
          case GLFW_KEY_RIGHT_BRACKET: switchHead(+1); break;
          case GLFW_KEY_LEFT_BRACKET: switchHead(-1); break;
          case GLFW_KEY_PERIOD: case GLFW_KEY_PAGE_DOWN: switchLayer(+1); break;
          case GLFW_KEY_COMMA: case GLFW_KEY_PAGE_UP: switchLayer(-1); break;
          case GLFW_KEY_L: o_.style.logScale = !o_.style.logScale; rangeFromData_ = false; break;
          case GLFW_KEY_T: {  // temperature up (shift: down)
            AttentionSpec s = spec_;
            s.temperature *= (e.mods & GLFW_MOD_SHIFT) ? 1 / 1.25 : 1.25;
            changeSpec(s);
            break;
          }
          case GLFW_KEY_C: {  // next mask: none, causal, causal window, two-sided window
            AttentionSpec s = spec_;
            s.mask = MaskKind((uint32_t(s.mask) + 1) % 4);
            if (s.window == 0) s.window = 256;
            changeSpec(s);
            break;
          }
          case GLFW_KEY_W: {  // window twice as wide (shift: half)
            AttentionSpec s = spec_;
            s.window = std::max(1u, (e.mods & GLFW_MOD_SHIFT) ? s.window / 2 : std::min(s.window * 2, s.n));
            changeSpec(s);
            break;
          }
          case GLFW_KEY_M:
            o_.style.channel = o_.style.channel == kChannelMax ? kChannelMean : kChannelMax;
            rangeFromData_ = false;
            break;
          case GLFW_KEY_S: requestScreenshot(); break;
          case GLFW_KEY_H: panel_->setVisible(!panel_->visible()); break;
          case GLFW_KEY_G: setGrid(!grid_); break;
          case GLFW_KEY_N: normalize_ = !normalize_; break;
          case GLFW_KEY_V:  // colour range: whole map -> this view -> fixed
            rangeMode_ = (rangeMode_ + 1) % 3;
            rangeFromData_ = false;
            viewRangeFor_ = {};
            break;
          case GLFW_KEY_ESCAPE: case GLFW_KEY_Q: window_.requestClose(); break;
          default: break;
        }
        break;
      }
    }
  }

  // The colour range from the finished whole-map tile, once (unless fixed by the user).
  void updateRange() {
    if (grid_ && !gridHeads_.empty()) {  // the range of the focused head's small multiple
      const Image* s = gridHeads_[headIndex_ % gridHeads_.size()].tiles->sweepImage();
      if (s && !rangeFromData_ && rangeMode_ != 2 && !(o_.style.vmin && o_.style.vmax)) {
        range_ = chooseRange(readbackImage(*ctx_, *s), o_.style);
        rangeFromData_ = true;
      }
      return;
    }
    const Image* sweep = tiles_->sweepImage();
    if (!sweep) return;
    if (!stripsReady_) computeStrips(*sweep);
    if (o_.style.vmin && o_.style.vmax) return;
    if (rangeMode_ == 1) {
      rangeFromView();
      return;
    }
    if (rangeFromData_ || rangeMode_ != 0) return;
    range_ = chooseRange(readbackImage(*ctx_, *sweep), o_.style);
    rangeFromData_ = true;
  }

  // The range of what is on screen, recomputed each time the view settles somewhere new.
  void rangeFromView() {
    CellRect v = camera_.visible();
    std::array<double, 6> key{v.x0, v.y0, v.x1, v.y1, double(o_.style.logScale), double(o_.style.channel)};
    if (key == viewRangeFor_ || !tiles_->settled(camera_)) return;
    std::vector<float> visible;
    for (const DrawTile& t : tiles_->drawList(camera_)) {
      if (!t.exact) continue;
      std::vector<float> texels = readbackImage(*ctx_, *t.image);
      uint32_t w = t.image->width(), h = t.image->height();
      double per = (t.cells.x1 - t.cells.x0) / w;
      for (uint32_t y = 0; y < h; ++y) {
        double cy = t.cells.y0 + y * per;
        if (cy + per <= v.y0 || cy >= v.y1) continue;
        for (uint32_t x = 0; x < w; ++x) {
          double cx = t.cells.x0 + x * per;
          if (cx + per <= v.x0 || cx >= v.x1) continue;
          visible.insert(visible.end(), &texels[(size_t(y) * w + x) * 4], &texels[(size_t(y) * w + x) * 4 + 4]);
        }
      }
    }
    if (visible.empty()) return;
    range_ = chooseRange(visible, o_.style);
    viewRangeFor_ = key;
  }

  // Once the whole map is swept: every row's entropy (exact, from its statistics) and the
  // attention each block of keys receives from all queries (exact, from the sweep's means).
  void computeStrips(const Image& sweep) {
    uint32_t n = spec_.n;
    std::vector<float> st(size_t(n) * 4);
    const_cast<Buffer&>(tiles_->rowStatsBuffer()).download(st.data(), st.size() * 4);
    entropyPrefix_.assign(size_t(n) + 1, 0.0);
    for (uint32_t i = 0; i < n; ++i) {
      double l = st[size_t(i) * 4 + 1], t = st[size_t(i) * 4 + 2];
      double h = l > 0 ? std::log(l) - t / l : 0.0;
      entropyPrefix_[i + 1] = entropyPrefix_[i] + std::max(0.0, h);
    }
    std::vector<float> texels = readbackImage(*ctx_, sweep);
    uint32_t w = sweep.width(), hgt = sweep.height();
    uint64_t per = uint64_t(1) << tiles_->sweepLevel();
    receivedPerKey_.assign(w, 0.0);
    for (uint32_t tx = 0; tx < w; ++tx) {
      uint64_t c0 = tx * per, c1 = std::min<uint64_t>(c0 + per, n);
      double total = 0;
      for (uint32_t ty = 0; ty < hgt; ++ty) {
        uint64_t r0 = ty * per, r1 = std::min<uint64_t>(r0 + per, n);
        total += double(texels[(size_t(ty) * w + tx) * 4 + kChannelMean]) * double(r1 - r0) * double(c1 - c0);
      }
      receivedPerKey_[tx] = total / double(c1 - c0);
    }
    receivedBlock_ = per;
    // Expected p by distance from the diagonal: the mean over every cell of each diagonal
    // band of sweep blocks (masked cells count as 0), for observed / expected.
    uint32_t bands = 2 * w - 1;
    std::vector<double> sum(bands, 0.0), cells(bands, 0.0);
    for (uint32_t ty = 0; ty < hgt; ++ty)
      for (uint32_t tx = 0; tx < w; ++tx) {
        uint64_t r0 = ty * per, r1 = std::min<uint64_t>(r0 + per, n), c0 = tx * per, c1 = std::min<uint64_t>(c0 + per, n);
        double count = double(r1 - r0) * double(c1 - c0);
        uint32_t band = tx + (w - 1) - ty;
        sum[band] += double(texels[(size_t(ty) * w + tx) * 4 + kChannelMean]) * count;
        cells[band] += count;
      }
    std::vector<float> expected(bands);
    for (uint32_t b = 0; b < bands; ++b) expected[b] = cells[b] > 0 ? float(sum[b] / cells[b]) : 0.0f;
    expected_ = Image(*ctx_, bands, 1, VK_FORMAT_R32_SFLOAT, VK_IMAGE_USAGE_SAMPLED_BIT | VK_IMAGE_USAGE_TRANSFER_DST_BIT,
                      "expected by distance");
    uploadImage(*ctx_, expected_, expected.data(), expected.size() * 4);
    expectedBlock_ = uint32_t(per);
    expectedCenter_ = w - 1;
    stripsReady_ = true;
  }

  // Bars: attention received per key above the plot (log scale), entropy per row at its
  // right (0 to log n, the entropy of uniform attention over every key).
  void drawStrips(OverlayBuilder& out, const FigureLayout& l) {
    const uint32_t ink = rgba(70, 70, 70), faint = rgba(235, 235, 235);
    out.rect(l.topStrip, faint);
    out.rect(l.sideStrip, faint);
    out.text("received", l.topStrip.x - 6, l.topStrip.y + l.topStrip.h / 2, TextSize::Small, ink, 2);
    out.text("H", l.sideStrip.x + l.sideStrip.w / 2, l.sideStrip.y - 8, TextSize::Small, ink, 1);
    if (!stripsReady_) return;
    double hiR = 0, loR = 1e300;
    for (double r : receivedPerKey_)
      if (r > 0) {
        hiR = std::max(hiR, r);
        loR = std::min(loR, r);
      }
    loR = std::max(loR, hiR * 1e-4);
    for (int x = 0; x < int(plot_.w); ++x) {
      double c0 = camera_.cellX(x), c1 = camera_.cellX(x + 1);
      if (c1 <= 0 || c0 >= spec_.n) continue;
      size_t b = size_t(std::clamp(0.5 * (c0 + c1), 0.0, double(spec_.n) - 1) / double(receivedBlock_));
      double v = receivedPerKey_[std::min(b, receivedPerKey_.size() - 1)];
      if (!(v > 0) || !(hiR > loR)) continue;
      double f = std::clamp((std::log(v) - std::log(loR)) / (std::log(hiR) - std::log(loR)), 0.02, 1.0);
      float hgt = float(f * l.topStrip.h);
      out.rect({l.topStrip.x + x, l.topStrip.y + l.topStrip.h - hgt, 1, hgt}, ink);
    }
    double maxH = std::log(double(spec_.n));
    for (int y = 0; y < int(plot_.h); ++y) {
      double r0 = std::clamp(camera_.cellY(y), 0.0, double(spec_.n)), r1 = std::clamp(camera_.cellY(y + 1), 0.0, double(spec_.n));
      uint64_t a = uint64_t(r0), b = std::max<uint64_t>(uint64_t(std::ceil(r1)), a + 1);
      if (a >= spec_.n) continue;
      b = std::min<uint64_t>(b, spec_.n);
      double h = (entropyPrefix_[b] - entropyPrefix_[a]) / double(b - a);
      float wdt = float(std::clamp(h / maxH, 0.0, 1.0) * l.sideStrip.w);
      out.rect({l.sideStrip.x, l.sideStrip.y + y, wdt, 1}, ink);
    }
  }

  Camera overviewCamera() const {
    Camera c;
    c.setViewport(plot_.w, plot_.h);
    c.setMapSize(spec_.n);
    return c;
  }

  void frame() {
    frames_->waitForFrame();
    // The previous frame is complete: its timings, readback and screenshot can be read.
    if (timer_->enabled()) {
      timer_->collect();
      lastGpu_ = timer_->totalsMs();
      timer_->clearTotals();
    }
    if (screenshotPending_) {
      screenshotPending_ = false;
      shot_.invalidate();
      std::vector<uint8_t> px(size_t(shotW_) * shotH_ * 4);
      std::memcpy(px.data(), shot_.mapped(), px.size());
      if (frames_->swapchain().format() == VK_FORMAT_B8G8R8A8_UNORM)
        for (size_t i = 0; i < px.size(); i += 4) std::swap(px[i], px[i + 2]);
      for (size_t i = 3; i < px.size(); i += 4) px[i] = 255;
      writePng(screenshotPath_, shotW_, shotH_, px.data());
      std::printf("wrote %s\n", screenshotPath_.c_str());
      std::fflush(stdout);
      screenshotPath_.clear();
      screenshotDone_ = true;
    }
    if (hoverPending_) {
      hoverPending_ = false;
      readback_.invalidate();
      std::memcpy(hoverTexel_, readback_.mapped(), 16);
      std::memcpy(hoverStats_, static_cast<char*>(readback_.mapped()) + 16, 16);
      hoverValid_ = true;
    }
    updateRange();

    uint32_t index;
    if (!frames_->begin(index)) {  // out of date: recreated, this frame is skipped
      resize();
      return;
    }
    arena_->reset();
    VkCommandBuffer cmd = frames_->cmd();
    if (timer_->enabled()) timer_->reset(cmd);
    Recording rec{*ctx_, cmd, *arena_, timer_->enabled() ? timer_.get() : nullptr};

    std::vector<DrawTile> draws;
    std::vector<HeatmapLayer> layers;
    if (grid_) {
      // One head's turn a frame, so the budget holds whatever the number of heads.
      TimedScope t(rec, "compute");
      bool any = false;
      for (uint32_t k = 0; k < gridHeads_.size(); ++k) {
        uint32_t g = (gridTurn_ + k) % gridHeads_.size();
        Camera cam = gridCamera(gridCell(g));
        if (gridHeads_[g].tiles->update(rec, cam, budget_)) {
          any = true;
          gridTurn_ = g + 1;
          break;
        }
      }
      busy_ = any;
      for (uint32_t g = 0; g < gridHeads_.size(); ++g) {
        Rect cell = gridCell(g);
        Camera cam = gridCamera(cell);
        for (const DrawTile& t : gridHeads_[g].tiles->drawList(cam))
          layers.push_back({t.image,
                            {float(cell.x + cam.pixelX(t.cells.x0)), float(cell.y + cam.pixelY(t.cells.y0)),
                             float((t.cells.x1 - t.cells.x0) / cam.cellsPerPixel()),
                             float((t.cells.y1 - t.cells.y0) / cam.cellsPerPixel())},
                            cell});
      }
      hoverCell_ = false;
    } else {
      {
        // While the view is still, compute gets twice the budget (the sweep finishes
        // sooner); the first frame that moves drops back, so interaction stays smooth.
        CellRect v = camera_.visible();
        std::array<double, 4> now{v.x0, v.y0, v.x1, v.y1};
        stillFrames_ = now == lastView_ ? stillFrames_ + 1 : 0;
        lastView_ = now;
        TimedScope t(rec, "compute");
        busy_ = tiles_->update(rec, camera_, stillFrames_ > 10 ? budget_ * 2 : budget_);
      }
      draws = tiles_->drawList(camera_);
      recordHover(rec, draws);
    }

    FigureSpec fig;
    fig.width = extentW_;
    fig.height = extentH_;
    fig.region = {0, spec_.n, 0, spec_.n};
    fig.style = o_.style;
    CellRect v = camera_.visible();
    fig.useView = true;
    fig.viewX0 = v.x0;
    fig.viewX1 = v.x1;
    fig.viewY0 = v.y0;
    fig.viewY1 = v.y1;
    fig.title = o_.title + (o_.layers.size() > 1 ? "  layer " + std::to_string(layer_) : "") + (o_.heads > 1 ? "  head " + std::to_string(headIndex_) + " of " + std::to_string(o_.heads) : "") +
                "  |  " + maskName(spec_.mask) +
                (spec_.mask == MaskKind::WindowCausal || spec_.mask == MaskKind::WindowBoth ? " W=" + std::to_string(spec_.window) : "") +
                (spec_.softcap ? "  cap " + formatValue(*spec_.softcap) : "") + "  T=" + formatValue(spec_.temperature);
    fig.strips = true;
    fig.ticks = !grid_;
    fig.tokens = o_.tokens.empty() ? nullptr : &o_.tokens;
    fig.normalize = normalize_ && !grid_ && stripsReady_;
    fig.expected = stripsReady_ ? &expected_ : nullptr;
    fig.expectedBlock = expectedBlock_;
    fig.expectedCenter = expectedCenter_;
    ValueRange shown = range_;
    if (fig.normalize && rangeMode_ != 2) shown = o_.style.logScale ? ValueRange{1.0 / 30, 30.0} : ValueRange{0.0, 4.0};
    fig.extraOverlay = [this](OverlayBuilder& out, const FigureLayout& l) {
      if (!grid_) {
        drawStrips(out, l);
        return;
      }
      for (uint32_t g = 0; g < gridHeads_.size(); ++g) {  // name each small multiple
        Rect c = gridCell(g);
        out.rect({c.x, c.y, 58, 18}, rgba(255, 255, 255, 210));
        out.text("head " + std::to_string(g), c.x + 4, c.y + 9, TextSize::Small, rgba(30, 30, 30), 0);
      }
    };
    fig.subtitle = hud();
    if (panel_->visible()) fig.subtitle = hoverText_;  // the panel shows the rest
    for (const DrawTile& t : draws)
      layers.push_back({t.image,
                        {float(plot_.x + camera_.pixelX(t.cells.x0)), float(plot_.y + camera_.pixelY(t.cells.y0)),
                         float((t.cells.x1 - t.cells.x0) / camera_.cellsPerPixel()),
                         float((t.cells.y1 - t.cells.y0) / camera_.cellsPerPixel())},
                        {0, 0, -1, -1},
                        float(t.cells.x0),
                        float(t.cells.y0),
                        float((t.cells.x1 - t.cells.x0) / t.image->width())});
    // Clip to the plot and to the map itself.
    double mx0 = std::max(0.0, camera_.pixelX(0)), my0 = std::max(0.0, camera_.pixelY(0));
    double mx1 = std::min(double(plot_.w), camera_.pixelX(double(spec_.n)));
    double my1 = std::min(double(plot_.h), camera_.pixelY(double(spec_.n)));
    Rect clip{float(plot_.x + mx0), float(plot_.y + my0), float(std::max(0.0, mx1 - mx0)), float(std::max(0.0, my1 - my0))};
    buildPanel();
    renderer_->record(rec, frames_->framebuffer(index), fig, layers, clip, shown, 0,
                      [&](VkCommandBuffer cmd) { panel_->record(cmd); });

    if (screenshotRequested_) {
      screenshotRequested_ = false;
      recordScreenshot(index);
    }
    if (frames_->submitAndPresent(index)) resize();
  }

  void recordScreenshot(uint32_t index) {
    if (!frames_->swapchain().copyable()) throw Error("this window system does not allow copying the window's image");
    shotW_ = extentW_;
    shotH_ = extentH_;
    uint64_t bytes = uint64_t(shotW_) * shotH_ * 4;
    if (!shot_ || shot_.size() < bytes)
      shot_ = Buffer(*ctx_, bytes, VK_BUFFER_USAGE_TRANSFER_DST_BIT, MemoryUse::Readback, "screenshot");
    VkImage img = frames_->swapchain().image(index);
    VkCommandBuffer cmd = frames_->cmd();
    // The render pass left the image ready to present; copy it out and hand it back.
    barrier::imageLayout(cmd, img, VK_IMAGE_LAYOUT_PRESENT_SRC_KHR, VK_IMAGE_LAYOUT_TRANSFER_SRC_OPTIMAL,
                         VK_PIPELINE_STAGE_COLOR_ATTACHMENT_OUTPUT_BIT, VK_ACCESS_COLOR_ATTACHMENT_WRITE_BIT,
                         VK_PIPELINE_STAGE_TRANSFER_BIT, VK_ACCESS_TRANSFER_READ_BIT);
    VkBufferImageCopy c{};
    c.imageSubresource = {VK_IMAGE_ASPECT_COLOR_BIT, 0, 0, 1};
    c.imageExtent = {shotW_, shotH_, 1};
    vkCmdCopyImageToBuffer(cmd, img, VK_IMAGE_LAYOUT_TRANSFER_SRC_OPTIMAL, shot_.handle(), 1, &c);
    // The copy finishes before presentation and before the host reads the pixels.
    barrier::imageLayout(cmd, img, VK_IMAGE_LAYOUT_TRANSFER_SRC_OPTIMAL, VK_IMAGE_LAYOUT_PRESENT_SRC_KHR,
                         VK_PIPELINE_STAGE_TRANSFER_BIT, VK_ACCESS_TRANSFER_READ_BIT,
                         VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT, 0);
    barrier::transferToHost(cmd);
    screenshotPending_ = true;
  }

  // Copies the texel under the pointer (and its row's statistics) for the readout next frame.
  void recordHover(Recording& rec, const std::vector<DrawTile>& draws) {
    hoverCell_ = false;
    double px = hoverX_ - plot_.x, py = hoverY_ - plot_.y;
    if (px < 0 || py < 0 || px >= plot_.w || py >= plot_.h) return;
    double cx = camera_.cellX(px), cy = camera_.cellY(py);
    if (cx < 0 || cy < 0 || cx >= spec_.n || cy >= spec_.n) return;
    hoverCell_ = true;
    hoverI_ = uint64_t(cy);
    hoverJ_ = uint64_t(cx);
    // This frame's compute may have written (or a job's first piece cleared) the image and
    // the row statistics copied below: their writes land before the copies read them.
    barrier::computeToTransfer(rec.cmd);
    for (auto it = draws.rbegin(); it != draws.rend(); ++it) {  // the finest on top
      const DrawTile& t = *it;
      if (cx < t.cells.x0 || cx >= t.cells.x1 || cy < t.cells.y0 || cy >= t.cells.y1) continue;
      double per = (t.cells.x1 - t.cells.x0) / t.image->width();
      VkBufferImageCopy c{};
      c.imageSubresource = {VK_IMAGE_ASPECT_COLOR_BIT, 0, 0, 1};
      c.imageOffset = {int32_t((cx - t.cells.x0) / per), int32_t((cy - t.cells.y0) / per), 0};
      c.imageExtent = {1, 1, 1};
      vkCmdCopyImageToBuffer(rec.cmd, t.image->handle(), VK_IMAGE_LAYOUT_GENERAL, readback_.handle(), 1, &c);
      hoverCellsPerTexel_ = per;
      hoverPending_ = true;
      break;
    }
    // The row's softmax statistics, once the sweep has left them for every row.
    hoverStatsValid_ = tiles_->rowStatsReady();
    if (hoverStatsValid_) {
      VkBufferCopy c{hoverI_ * kStatsBytes, 16, kStatsBytes};
      vkCmdCopyBuffer(rec.cmd, tiles_->rowStatsBuffer().handle(), readback_.handle(), 1, &c);
    }
    barrier::transferToHost(rec.cmd);
  }

  std::string hud() {
    char buf[512];
    double n = double(spec_.n);
    std::string readout;
    if (hoverCell_ && hoverValid_) {
      char r[256];
      if (hoverCellsPerTexel_ <= 1.0)
        std::snprintf(r, sizeof r, "  |  i %llu, j %llu: p %.4g, logit %s", (unsigned long long)hoverI_,
                      (unsigned long long)hoverJ_, hoverTexel_[1],
                      hoverTexel_[2] < -1e38f ? "masked" : formatValue(hoverTexel_[2]).c_str());
      else
        std::snprintf(r, sizeof r, "  |  i %llu, j %llu: block of %.0f x %.0f cells, max p %.3g, mean p %.3g",
                      (unsigned long long)hoverI_, (unsigned long long)hoverJ_, hoverCellsPerTexel_,
                      hoverCellsPerTexel_, hoverTexel_[0], hoverTexel_[1]);
      readout = r;
      if (!o_.tokens.empty())
        readout += "  [" + o_.tokens[hoverI_] + " -> " + o_.tokens[hoverJ_] + "]";
      if (hoverStatsValid_ && hoverStats_[1] > 0) {
        char s[160];
        double l = hoverStats_[1];
        std::snprintf(s, sizeof s, "; row %llu: max logit %.4g, sum exp(s - max) %.4g, entropy %.3g",
                      (unsigned long long)hoverI_, hoverStats_[0], l, std::log(l) - hoverStats_[2] / l);
        readout += s;
      }
      hoverText_ = readout.substr(5);  // without the leading separator
    } else {
      hoverText_.clear();
    }
    double gpuCompute = lastGpu_.count("compute") ? lastGpu_["compute"] : 0;
    double gpuDraw = lastGpu_.count("draw") ? lastGpu_["draw"] : 0;
    std::snprintf(buf, sizeof buf,
                  "n %.0f: %.3g cells, %.3g GB as dense float32 | %.3g GFLOP so far | GPU %.1f ms compute, %.1f ms draw | "
                  "%zu tiles | sweep %.0f%%%s",
                  n, n * n, n * n * 4 / 1e9, tiles_->flopsDone() / 1e9, gpuCompute, gpuDraw, tiles_->tilesCached(),
                  tiles_->sweepProgress() * 100, readout.c_str());
    return buf;
  }

  ViewerOptions o_;
  AttentionSpec spec_;
  HeadLoader loader_;
  Window window_;
  std::unique_ptr<GpuSession> gpu_;
  Context* ctx_ = nullptr;  // the session's parts, named
  ShaderCompiler* compiler_ = nullptr;
  Kernels* kernels_ = nullptr;
  std::unique_ptr<WindowFrames> frames_;
  std::unique_ptr<FigureRenderer> renderer_;
  std::unique_ptr<ControlPanel> panel_;
  int rangeMode_ = 0;
  int stillFrames_ = 0;
  std::array<double, 4> lastView_{};
  std::array<double, 6> viewRangeFor_{};
  std::string hoverText_;
  bool stripsReady_ = false;
  std::vector<double> entropyPrefix_, receivedPerKey_;
  // The heads grid: every head as a small multiple with the same (linked) view.
  struct HeadSlot {
    std::unique_ptr<HeadData> head;
    std::unique_ptr<TileView> tiles;
  };
  bool grid_ = false;
  std::vector<HeadSlot> gridHeads_;
  uint32_t gridTurn_ = 0;
  bool clickCandidate_ = false;
  uint64_t receivedBlock_ = 1;
  bool normalize_ = false;
  Image expected_;
  uint32_t expectedBlock_ = 1, expectedCenter_ = 0;
  std::unique_ptr<DescriptorArena> arena_;
  std::unique_ptr<GpuTimer> timer_;
  std::map<std::string, double> lastGpu_;
  std::unique_ptr<HeadData> head_;
  uint32_t layer_ = 0;
  uint32_t headIndex_ = 0;
  std::unique_ptr<TileView> tiles_;
  Camera camera_;
  Rect plot_;
  uint32_t extentW_ = 0, extentH_ = 0;
  double budget_ = 1e9;
  ValueRange range_{1e-6, 1};
  bool rangeFromData_ = false;
  bool busy_ = true;
  bool dragging_ = false, boxing_ = false;
  double dragX_ = 0, dragY_ = 0, boxX_ = 0, boxY_ = 0;
  double hoverX_ = -1, hoverY_ = -1;
  Buffer readback_;
  bool hoverPending_ = false, hoverValid_ = false, hoverCell_ = false;
  float hoverTexel_[4] = {0, 0, 0, 0}, hoverStats_[4] = {0, 0, 0, 0};
  bool hoverStatsValid_ = false;
  uint64_t hoverI_ = 0, hoverJ_ = 0;
  double hoverCellsPerTexel_ = 1;
  Buffer shot_;
  uint32_t shotW_ = 0, shotH_ = 0;
  bool screenshotRequested_ = false, screenshotPending_ = false, screenshotDone_ = false;
  std::string screenshotPath_;
  int screenshotCount_ = 0;
};

}  // namespace

int runViewer(const ContextOptions& device, const AttentionSpec& spec, const ViewerOptions& options,
              const HeadLoader& loadHead) {
  Viewer viewer(device, spec, options, loadHead);
  return viewer.run();
}

}  // namespace attnscope
