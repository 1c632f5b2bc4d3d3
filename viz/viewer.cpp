#include "viz/viewer.h"

#include <algorithm>
#include <array>
#include <chrono>
#include <fstream>
#include <optional>
#include <utility>

#include "compute/gpu_session.h"
#include "compute/map_job.h"
#include "engine/error.h"
#include "engine/image.h"
#include "engine/barriers.h"
#include "engine/host_cpu.h"
#include "viz/color_range.h"
#include "viz/frame_budget.h"
#include "viz/control_panel.h"
#include "viz/head_views.h"
#include "viz/map_strips.h"
#include "viz/pointer_input.h"
#include "viz/view_actions.h"
#include "viz/viewer_readouts.h"
#include "viz/viewer_script.h"
#include "viz/viewer_status.h"
#include "viz/window.h"
#include "viz/window_frames.h"

namespace attnscope {

std::vector<std::string> viewerInstanceExtensions() { return Window::requiredInstanceExtensions(); }

namespace {

class Viewer : public ScriptTarget {
 public:
  Viewer(const ContextOptions& device, const AttentionSpec& spec, const ViewerOptions& o, const HeadLoader& loader)
      : o_(o), window_(o.width, o.height, "attnscope"), range_(o.style, spec.n) {
    ContextOptions co = device;
    co.instanceExtensions = Window::requiredInstanceExtensions();
    co.swapchain = true;
    gpu_ = std::make_unique<GpuSession>(co);
    ctx_ = gpu_->ctx.get();
    frames_ = std::make_unique<WindowFrames>(*ctx_, window_, o.vsync);
    renderer_ = std::make_unique<FigureRenderer>(*ctx_, *gpu_->compiler, frames_->swapchain().format(),
                                                 VK_IMAGE_LAYOUT_PRESENT_SRC_KHR);
    panel_ = std::make_unique<ControlPanel>(*ctx_, window_.handle(), renderer_->renderPass(), frames_->swapchain().imageCount());
    // Scripted runs (tests, benchmarks, screenshots) measure and show the map alone.
    panel_->setVisible(o.script.empty() && o.screenshot.empty());
    frames_->attach(renderer_->renderPass());
    arena_ = std::make_unique<DescriptorArena>(*ctx_);
    timer_ = std::make_unique<GpuTimer>(*ctx_);
    hover_ = std::make_unique<HoverReadout>(*ctx_);
    screenshot_ = std::make_unique<ScreenshotReadout>(*ctx_);
    sweepReadback_ = std::make_unique<SweepReadback>(*ctx_);
    resize();
    camera_.setMapSize(spec.n);
    o_.cacheBytes = tileCacheBudget(*ctx_, plot_, o.cacheBytes, extentW_, extentH_);
    // The tuned kernels (timed once per device), whose timings are the frame budget's first
    // estimate of the device's speed.
    TuneReport tuned = gpu_->prepareKernels(paddedDim(spec.d), [&](double f) {
      startupFrame("timing kernel variants (once per device)", f, false);
    });
    FrameBudgetTargets targets;
    targets.stillFrameMs = o.frameMs;
    targets.movingFrameMs = o.frameMs * 0.8;
    targets.undrawnFrameMs = o.frameMs * 0.6;
    budget_ = std::make_unique<FrameBudget>(initialSpeed(tuned), targets);
    views_ = std::make_unique<HeadViews>(*ctx_, *gpu_->kernels, loader, spec, o.heads, o.layers, o_.cacheBytes);
    views_->show(o.layer, o.head, fitCellsPerPixel());
    views_->tiles().startSweep(*budget_, [&](double f) { startupFrame("preparing the kernels", f, true); });
    warmUpDrawing();
  }

  // Start-up work that takes seconds on a machine's first run (timing the kernel variants,
  // lavapipe's first compile of each pipeline: 6-7 s for the warm-ups alone on a 2-core
  // Xeon) draws a frame now and then saying what and how far, instead of a blank window,
  // and says so once on the terminal. Closing the window then ends the viewer (cancellable:
  // not from inside the tuner, which finishes first).
  struct ClosedDuringStartup {};
  void startupFrame(const std::string& what, double fraction, bool cancellable) {
    window_.poll();
    if (cancellable && window_.closeRequested()) throw ClosedDuringStartup{};
    auto now = std::chrono::steady_clock::now();
    if (what != startupWhat_) {
      startupWhat_ = what;
      startupBegan_ = now;
    }
    // The tuner says on the terminal what it does; the warm-ups say it here, when slow.
    if (cancellable && !startupSaid_ && now - startupBegan_ > std::chrono::seconds(1)) {
      std::fprintf(stderr, "attnscope: %s for the viewer (compiled once on this machine, then cached) ...\n", what.c_str());
      startupSaid_ = true;
    }
    if (now - lastStartupFrame_ < std::chrono::milliseconds(100)) return;
    lastStartupFrame_ = now;
    frames_->waitForFrame();
    uint32_t index;
    if (!frames_->begin(index)) {  // out of date: recreated, this one is skipped
      resize();
      return;
    }
    arena_->reset();  // no timestamps: the first real frame's collect finds none
    Recording rec{*ctx_, frames_->cmd(), *arena_, nullptr};
    FigureSpec fig;
    fig.width = extentW_;
    fig.height = extentH_;
    fig.region = {0, camera_.mapSize(), 0, camera_.mapSize()};
    fig.style = o_.style;
    fig.strips = true;
    fig.ticks = false;
    fig.title = o_.title + "  |  " + what + "...";
    int filled = int(std::clamp(fraction, 0.0, 1.0) * 30);
    fig.subtitle = "[" + std::string(size_t(filled), '#') + std::string(size_t(30 - filled), '-') + "] " +
                   std::to_string(int(fraction * 100)) + "%   (a machine's first run compiles them; later runs start at once)";
    renderer_->record(rec, frames_->framebuffer(index), fig, {}, mapClipOnPlot(camera_, plot_), shownRange(fig), 0);
    if (frames_->submitAndPresent(index)) resize();
  }

  // lavapipe compiles a draw's shaders at the first draw with each kind of texture it samples
  // (sides that are or are not powers of two): the first frame paid 115 ms for it on a fresh
  // machine and the first frame with tiles 40-60 ms. One offscreen draw of the figure, with a
  // tiny layer of each kind, before the first frame pays it there instead.
  void warmUpDrawing() {
    std::vector<Image> images;
    for (uint32_t h : {1u, 3u})
      for (uint32_t w : {1u, 3u})
        images.emplace_back(*ctx_, w, h, VK_FORMAT_R32G32B32A32_SFLOAT, kMapImageUsage, "warm-up layer");
    OffscreenTarget target(*ctx_, renderer_->renderPass(), extentW_, extentH_, frames_->swapchain().format(), 0,
                           "warm-up target");
    CommandStream stream(*ctx_, false);
    Recording rec = stream.begin();
    std::vector<HeatmapLayer> layers;
    const VkClearColorValue zero{};
    const VkImageSubresourceRange all{VK_IMAGE_ASPECT_COLOR_BIT, 0, 1, 0, 1};
    for (Image& im : images) {
      barrier::imageLayout(rec.cmd, im.handle(), VK_IMAGE_LAYOUT_UNDEFINED, VK_IMAGE_LAYOUT_GENERAL,
                           VK_PIPELINE_STAGE_TOP_OF_PIPE_BIT, 0, VK_PIPELINE_STAGE_TRANSFER_BIT,
                           VK_ACCESS_TRANSFER_WRITE_BIT);
      vkCmdClearColorImage(rec.cmd, im.handle(), VK_IMAGE_LAYOUT_GENERAL, &zero, 1, &all);
      // Cleared before the draw samples it.
      barrier::imageLayout(rec.cmd, im.handle(), VK_IMAGE_LAYOUT_GENERAL, VK_IMAGE_LAYOUT_GENERAL,
                           VK_PIPELINE_STAGE_TRANSFER_BIT, VK_ACCESS_TRANSFER_WRITE_BIT,
                           VK_PIPELINE_STAGE_FRAGMENT_SHADER_BIT, VK_ACCESS_SHADER_READ_BIT);
      layers.push_back({&im, Rect{plot_.x, plot_.y, 8, 8}});
    }
    FigureSpec fig = figure();
    buildPanel();
    renderer_->record(rec, target.framebuffer(), fig, layers, mapClipOnPlot(camera_, plot_), shownRange(fig), 0,
                      [&](VkCommandBuffer c) { panel_->record(c); });
    stream.submitAndWait();
  }

  ~Viewer() override {
    if (ctx_) ctx_->waitIdleInDestructor();  // frames in flight use what goes below
    views_.reset();
  }

  int run() {
    ViewerScript script = viewerScript(o_.script, o_.screenshot);
    keepTrace_ = !script.statsPath.empty();  // only a stats file reads it
    bool scripted = !script.steps.empty();
    ScriptRunner runner(std::move(script.steps));
    FrameStats stats;
    auto last = std::chrono::steady_clock::now();
    while (!window_.closeRequested()) {
      window_.poll();
      if (window_.minimised()) {
        window_.waitEvents(0.1);
        continue;
      }
      if (scripted && runner.done()) break;
      bool moving = scripted && runner.play(*this);
      std::vector<InputEvent> events = window_.drainEvents();
      if (!events.empty()) oweDraws();
      for (const InputEvent& e : events) handle(e);
      if (!scripted && !busy_ && drawOwed_ == 0 && !o_.drawEveryFrame) {
        // Nothing to compute and nothing changed: sleep until an event (or a quarter second,
        // so that what changes without one, such as a delayed tooltip, still shows).
        window_.waitEvents(0.25);
        last = std::chrono::steady_clock::now();
        lastFrameStart_ = last;
        oweDraws(1);
        continue;
      }
      bool drawn = frame(mustDraw(moving));
      auto now = std::chrono::steady_clock::now();
      stats.add(std::chrono::duration<double, std::milli>(now - last).count(), moving, drawn);
      last = now;
    }
    ctx_->waitIdle();
    if (!script.statsPath.empty()) writeStats(script.statsPath, runner, stats);
    return 0;
  }

  // ---- what a script drives (ScriptTarget) ----
  void scriptZoom(double x, double y, double f) override { oweDraws(); camera_.zoomAbout(x - plot_.x, y - plot_.y, f); }
  void scriptPan(double dx, double dy) override { oweDraws(); camera_.pan(dx, dy); }
  void scriptBox(double x0, double y0, double x1, double y1) override {
    oweDraws();
    camera_.zoomToBox(x0 - plot_.x, y0 - plot_.y, x1 - plot_.x, y1 - plot_.y);
  }
  void scriptLookAt(double col, double row, double cpp) override { oweDraws(); camera_.lookAt(col, row, cpp); }
  void scriptFit() override { oweDraws(); camera_.fit(); }
  void scriptPanel(bool visible) override { oweDraws(); panel_->setVisible(visible); }
  void scriptClick(double x, double y) override {  // a left click: press and release without moving
    oweDraws();
    InputEvent e;
    e.x = x;
    e.y = y;
    e.type = InputEvent::ButtonDown;
    handle(e);
    e.type = InputEvent::ButtonUp;
    handle(e);
  }
  void scriptHover(double x, double y) override { oweDraws(); pointer_.hoverAt(x, y); }
  void scriptAction(ViewAction a) override { oweDraws(); apply(a); }
  bool viewExact() override { return views_->settled(camera_, plot_); }
  bool allWorkDone() override { return !busy_; }
  void scriptScreenshot(const std::string& path) override { oweDraws(); screenshot_->request(path); }
  bool takeScreenshotDone() override { return screenshot_->takeDone(); }

 private:
  // ---- one frame, top to bottom ----
  // While the camera rests and nothing else changes, most frames only compute and the
  // picture is drawn a few times a second: drawing costs a CPU device (lavapipe) about half
  // of a 30 ms frame, which the whole-map sweep gets instead. Input, a moving camera or a
  // finished piece of work is drawn at once.
  static constexpr double kRestingRedrawMs = 100;

  void oweDraws(int frames = 3) { drawOwed_ = std::max(drawOwed_, frames); }

  double msSinceDrawn() const {
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - lastDrawn_).count();
  }

  bool mustDraw(bool moving) const {
    return o_.drawEveryFrame || drawOwed_ > 0 || views_->pending() || moving || stillFrames_ < 3 || !busy_ ||
           screenshot_->requested() || msSinceDrawn() >= kRestingRedrawMs;
  }

  // Returns whether the frame was drawn (false: it only computed).
  bool frame(bool draw) {
    frames_->waitForFrame();
    collectLastFrame();
    // A switch of head or layer is read once a drawn frame has said which is coming.
    if (views_->pending() && announced_ == std::pair(views_->targetLayer(), views_->targetHead()) &&
        views_->applyPending())
      oweDraws();
    announced_.reset();
    updateRangeAndStrips();
    if (!draw) {
      frames_->beginCompute();
      Recording rec = startRecording();
      recordBudgetedWork(rec, false);
      recorded_ = true;
      frames_->submitCompute();
      if (!busy_) oweDraws();  // the last piece of work: its picture is shown
      return false;
    }
    drawOwed_ = std::max(0, drawOwed_ - 1);
    lastDrawn_ = std::chrono::steady_clock::now();
    uint32_t index;
    if (!frames_->begin(index)) {  // out of date: recreated, this frame is skipped
      resize();
      return true;
    }
    Recording rec = startRecording();
    VkCommandBuffer cmd = rec.cmd;
    std::vector<HeatmapLayer> layers = recordCompute(rec);
    FigureSpec fig = figure();
    buildPanel();
    renderer_->record(rec, frames_->framebuffer(index), fig, layers, mapClipOnPlot(camera_, plot_), shownRange(fig), 0,
                      [&](VkCommandBuffer c) { panel_->record(c); });
    if (screenshot_->requested()) screenshot_->record(cmd, frames_->swapchain(), index, extentW_, extentH_);
    recorded_ = true;
    if (frames_->submitAndPresent(index)) resize();
    if (views_->pending()) announced_ = std::pair(views_->targetLayer(), views_->targetHead());
    return true;
  }

  // The frame's command buffer (begun) with a fresh descriptor arena and, where the device
  // has timestamps, a reset timer: what both kinds of frame record into.
  Recording startRecording() {
    arena_->reset();
    VkCommandBuffer cmd = frames_->cmd();
    if (timer_->enabled()) timer_->reset(cmd);
    sweepReadback_->record(cmd);
    return Recording{*ctx_, cmd, *arena_, timer_->enabled() ? timer_.get() : nullptr};
  }

  // The device's speed per block shape before any frame is measured: the tuner's timings of
  // the chosen kernels where it ran, else a guess by device type.
  std::array<double, kBlockShapes> initialSpeed(const TuneReport& tuned) const {
    bool cpu = ctx_->caps().type == VK_PHYSICAL_DEVICE_TYPE_CPU;
    std::array<double, kBlockShapes> flopsPerMs = cpu ? std::array<double, kBlockShapes>{3e7, 2.5e7, 2e7, 4e6}
                                                      : std::array<double, kBlockShapes>{1e9, 1e9, 8e8, 2e8};
    for (const CandidateTiming& c : tuned.candidates)
      for (int s = 0; s < kBlockShapes; ++s)
        if (c.correct && c.variant == tuned.chosen[s] && c.gflops[s] > 0) flopsPerMs[s] = c.gflops[s] * 1e6;
    return flopsPerMs;
  }

  // The previous frame is complete: its timings, readouts and screenshot can be read, and
  // the frame budget learns from what its compute cost.
  void collectLastFrame() {
    auto now = std::chrono::steady_clock::now();
    double frameMs = std::chrono::duration<double, std::milli>(now - lastFrameStart_).count();
    lastFrameStart_ = now;
    if (timer_->enabled()) {
      timer_->collect();
      lastGpu_ = timer_->totalsMs();
      timer_->clearTotals();
    }
    if (recorded_) {
      auto gpuMs = [&](const char* label) {
        if (!timer_->enabled()) return -1.0;
        auto it = lastGpu_.find(label);
        return it == lastGpu_.end() ? 0.0 : it->second;
      };
      std::array<double, kBlockShapes> shapeMs{};
      for (int s = 0; s < kBlockShapes; ++s) shapeMs[s] = gpuMs(shapeTimerLabel(BlockShape(s)));
      budget_->observe(frameMs, gpuMs("compute"), shapeMs, lastWork_);
      if (keepTrace_)
        trace_.push_back({frameMs, gpuMs("compute"), lastWork_.allowedMs, lastWork_.predictedMs, lastWork_.drawn ? 1.0 : 0.0});
    }
    recorded_ = false;
    screenshot_->collect(frames_->swapchain().format());
    hover_->collect();
    sweepReadback_->collect();
  }

  // The colour range and the strips, from the whole-map sweep once it is done.
  // Both start again whenever the picture changed (head, layer, parameters, grid).
  void updateRangeAndStrips() {
    if (views_->changes() != seenChanges_) {
      seenChanges_ = views_->changes();
      range_.invalidate();
      strips_.reset();
      sweepReadback_->cancel();
    }
    const Image* sweep = views_->rangeSweep();
    if (!sweep) return;
    bool grid = views_->grid();
    bool strips = !grid && !strips_.ready(), range = range_.wantsSweep(o_.style, grid);
    if (strips || range) {
      // Once for both, copied by this frame and read in the next, after its fence.
      if (sweepReadback_->ready(seenChanges_)) {
        std::vector<float> texels = sweepReadback_->take();
        if (strips) {
          TileView& tiles = views_->tiles();
          strips_.compute(*ctx_, *sweep, texels, tiles.rowStatsBuffer(), tiles.sweepLevel(), spec().n);
        }
        if (range) range_.fromSweep(o_.style, texels);
        oweDraws(1);  // shown at once
      } else {
        sweepReadback_->request(*sweep, seenChanges_);
        oweDraws(1);  // a next frame soon, to read it, even with nothing else to do
      }
    }
    if (!grid) range_.update(*ctx_, o_.style, views_->tiles(), camera_);
  }

  // Compute gets what the frame-time target leaves after drawing, or in a frame that only
  // computes, after recording it. A drawn frame gets the moving frame's share even while the
  // camera rests: the frames between draws do the bulk of the work then, and the frame that
  // follows a draw waits for it, so a long draw would be felt twice.
  void recordBudgetedWork(Recording& rec, bool drawing) {
    CellRect v = camera_.visible();
    std::array<double, 4> now{v.x0, v.y0, v.x1, v.y1};
    stillFrames_ = now == lastView_ ? stillFrames_ + 1 : 0;
    lastView_ = now;
    TimedScope t(rec, "compute");
    lastWork_ = budget_->frame(stillFrames_ < 3 || (drawing && !o_.drawEveryFrame), drawing);
    // The frame before a scheduled draw computes half as long: the drawn frame waits for it,
    // and on lavapipe its present waits for its own compute and drawing as well, so the two
    // would otherwise add up to ~1.5 frames.
    if (!drawing && msSinceDrawn() + budget_->targets().undrawnFrameMs >= kRestingRedrawMs)
      lastWork_.allowedMs = std::max(budget_->targets().minComputeMs, lastWork_.allowedMs / 2);
    busy_ = views_->update(rec, camera_, plot_, *budget_, lastWork_);
  }

  // This frame's compute under the budget, and the layers to draw with the hover readout.
  std::vector<HeatmapLayer> recordCompute(Recording& rec) {
    std::vector<HeatmapLayer> layers;
    recordBudgetedWork(rec, true);
    if (views_->grid()) {
      views_->headsGrid().layers(layers, plot_, camera_, spec().n);
      hover_->clear();
      return layers;
    }
    TileView& tiles = views_->tiles();
    std::vector<DrawTile> draws = tiles.drawList(camera_);
    double px = pointer_.x() - plot_.x, py = pointer_.y() - plot_.y;
    if (px < 0 || py < 0 || px >= plot_.w || py >= plot_.h) hover_->clear();
    else hover_->record(rec, draws, tiles, camera_.cellX(px), camera_.cellY(py), spec().n);
    appendTileLayers(layers, draws, camera_, plot_);
    return layers;
  }

  FigureSpec figure() {
    const AttentionSpec& sp = spec();
    bool grid = views_->grid();
    FigureSpec fig;
    fig.width = extentW_;
    fig.height = extentH_;
    fig.region = {0, sp.n, 0, sp.n};
    fig.style = o_.style;
    CellRect v = camera_.visible();
    fig.useView = true;
    fig.viewX0 = v.x0;
    fig.viewX1 = v.x1;
    fig.viewY0 = v.y0;
    fig.viewY1 = v.y1;
    fig.title = viewTitle(o_.title, *views_);
    fig.strips = true;
    fig.ticks = !grid;
    fig.tokens = o_.tokens.empty() ? nullptr : &o_.tokens;
    fig.normalize = normalize_ && !grid && strips_.ready();
    fig.expected = strips_.ready() ? &strips_.expected() : nullptr;
    fig.expectedBlock = strips_.expectedBlock();
    fig.expectedCenter = strips_.expectedCenter();
    fig.extraOverlay = [this, grid](OverlayBuilder& out, const FigureLayout& l) {
      if (grid) views_->headsGrid().labels(out, plot_);
      else strips_.draw(out, l, camera_, plot_, spec().n);
    };
    hoverText_ = hover_->text(o_.tokens);
    fig.subtitle = panel_->visible() ? hoverText_ : statusLine(*views_, lastGpu_, hoverText_);  // the panel shows the rest
    return fig;
  }

  // Observed / expected has its own range (ratios); otherwise the policy's.
  ValueRange shownRange(const FigureSpec& fig) const {
    if (fig.normalize && range_.mode() != RangeMode::Fixed)
      return o_.style.logScale ? ValueRange{1.0 / 30, 30.0} : ValueRange{0.0, 4.0};
    return range_.range();
  }

  // ---- input ----
  void handle(const InputEvent& e) {
    bool mouse = e.type != InputEvent::Key;
    if (mouse && e.type != InputEvent::Move && panel_->wantsMouse()) return;  // the panel's click or wheel
    if (!mouse && panel_->wantsKeyboard()) return;
    if (e.type == InputEvent::Move && panel_->wantsMouse()) return pointer_.release();
    if (!mouse) {
      if (auto a = actionForKey(e.key, e.mods)) apply(*a);
      return;
    }
    int head = pointer_.handle(e, camera_, plot_, views_->grid() ? &views_->headsGrid() : nullptr, spec().n);
    if (head >= 0) {  // a click on a small multiple focuses its head
      views_->setGrid(false);
      views_->select(views_->targetLayer(), uint32_t(head), fitCellsPerPixel());
    }
  }

  // Every key's action (keyboard and scripts alike: view_actions.cpp binds them).
  void apply(ViewAction a) {
    double step = std::min(plot_.w, plot_.h) / 8;
    auto edit = [&](auto&& change) {  // the attention parameters: tiles recompute
      AttentionSpec s = spec();
      change(s);
      views_->setSpec(s);
    };
    switch (a) {
      case ViewAction::PanLeft: camera_.pan(step, 0); break;
      case ViewAction::PanRight: camera_.pan(-step, 0); break;
      case ViewAction::PanUp: camera_.pan(0, step); break;
      case ViewAction::PanDown: camera_.pan(0, -step); break;
      case ViewAction::ZoomIn: camera_.zoomAbout(plot_.w / 2, plot_.h / 2, 1.5); break;
      case ViewAction::ZoomOut: camera_.zoomAbout(plot_.w / 2, plot_.h / 2, 1 / 1.5); break;
      case ViewAction::Fit: camera_.fit(); break;
      case ViewAction::NextHead: views_->switchHead(+1, fitCellsPerPixel()); break;
      case ViewAction::PreviousHead: views_->switchHead(-1, fitCellsPerPixel()); break;
      case ViewAction::NextLayer: views_->switchLayer(+1, fitCellsPerPixel()); break;
      case ViewAction::PreviousLayer: views_->switchLayer(-1, fitCellsPerPixel()); break;
      case ViewAction::ToggleLogScale:
        o_.style.logScale = !o_.style.logScale;
        range_.invalidate();
        break;
      case ViewAction::ToggleAggregation:
        o_.style.channel = o_.style.channel == kChannelMax ? kChannelMean : kChannelMax;
        range_.invalidate();
        break;
      case ViewAction::CycleColorRange: range_.cycle(); break;
      case ViewAction::ToggleNormalize: normalize_ = !normalize_; break;
      case ViewAction::ToggleGrid: views_->setGrid(!views_->grid()); break;
      case ViewAction::TogglePanel: panel_->setVisible(!panel_->visible()); break;
      case ViewAction::TemperatureUp: edit([](AttentionSpec& s) { s.temperature *= 1.25; }); break;
      case ViewAction::TemperatureDown: edit([](AttentionSpec& s) { s.temperature /= 1.25; }); break;
      case ViewAction::NextMask:  // none, causal, causal window, two-sided window
        edit([](AttentionSpec& s) {
          s.mask = MaskKind((uint32_t(s.mask) + 1) % 4);
          if (s.window == 0) s.window = 256;
        });
        break;
      case ViewAction::WiderWindow: edit([](AttentionSpec& s) { s.window = std::max(1u, std::min(s.window * 2, s.n)); }); break;
      case ViewAction::NarrowerWindow: edit([](AttentionSpec& s) { s.window = std::max(1u, s.window / 2); }); break;
      case ViewAction::Screenshot: screenshot_->requestNumbered(); break;
      case ViewAction::Quit: window_.requestClose(); break;
    }
  }

  // The panel edits a copy of the settings; whatever changed is applied here.
  void buildPanel() {
    const TileView& tiles = views_->tiles();
    ViewControls c;
    c.spec = spec();
    c.style = o_.style;
    c.rangeMode = int(range_.mode());
    c.vmin = float(range_.range().vmin);
    c.vmax = float(range_.range().vmax);
    c.head = int(views_->targetHead());
    c.heads = int(o_.heads);
    c.layers = o_.layers;
    c.layer = views_->targetLayer();
    c.grid = views_->grid();
    c.normalize = normalize_;
    c.flops = tiles.flopsDone();
    c.computeMs = lastGpu_.count("compute") ? lastGpu_["compute"] : 0;
    c.drawMs = lastGpu_.count("draw") ? lastGpu_["draw"] : 0;
    c.sweep = tiles.sweepProgress();
    c.tiles = tiles.tilesCached();
    c.cacheBytes = tiles.cacheBytes();
    c.hover = hoverText_;
    panel_->build(c);
    if (!(c.spec == spec())) {
      try {
        c.spec.validate();
        views_->setSpec(c.spec);
      } catch (const Error&) {
        // Out-of-range values from the panel are ignored; the old settings stay.
      }
    }
    if (c.style.logScale != o_.style.logScale || c.style.channel != o_.style.channel) range_.invalidate();
    o_.style.colormap = c.style.colormap;
    o_.style.logScale = c.style.logScale;
    o_.style.channel = c.style.channel;
    range_.setMode(RangeMode(c.rangeMode));
    range_.setFixed(c.vmin, c.vmax, o_.style.logScale);
    views_->select(c.layer, uint32_t(c.head), fitCellsPerPixel());
    if (c.grid != views_->grid()) views_->setGrid(c.grid);
    normalize_ = c.normalize;
    if (c.fitRequested) camera_.fit();
    if (c.screenshotRequested) screenshot_->requestNumbered();
  }

  const AttentionSpec& spec() const { return views_->spec(); }

  // The zoom at which the whole map fits the plot: new tiles start their sweep there.
  double fitCellsPerPixel() const {
    Camera whole = camera_;
    whole.fit();
    return whole.cellsPerPixel();
  }

  // ---- sizes, budgets, statistics ----
  void resize() {
    extentW_ = frames_->swapchain().extent().width;
    extentH_ = frames_->swapchain().extent().height;
    plot_ = layoutFigure(extentW_, extentH_, true).plot;
    camera_.setViewport(plot_.w, plot_.h);
  }

  void writeStats(const std::string& path, const ScriptRunner& runner, const FrameStats& frames) {
    nlohmann::json s = viewStats(*ctx_, *views_, o_.cacheBytes);
    s["host_cpu"] = hostCpuDescription();
    s["window"] = {extentW_, extentH_};
    s["frames"] = frames.frames();
    s["frame_time"] = frames.allFrames();
    s["frame_time_while_moving"] = frames.movingFrames();
    s["drawn_frame_interval"] = frames.drawnIntervals();
    s["seconds_to_exact_after_camera_stops"] = runner.secondsToExact();
    s["seconds_until_all_work_done"] = runner.secondsToAllDone();
    // How the frame budget saw the device at the end, and every frame it measured.
    nlohmann::json speed;
    for (int sh = 0; sh < kBlockShapes; ++sh)
      speed[blockShapeName(BlockShape(sh))] = round3(budget_->flopsPerMs(BlockShape(sh)) / 1e6);
    const FrameBudgetTargets& targets = budget_->targets();
    s["frame_budget"] = {{"target_ms",
                          {{"still", targets.stillFrameMs}, {"moving", targets.movingFrameMs}, {"undrawn", targets.undrawnFrameMs}}},
                         {"gflops_estimate", speed},
                         {"other_ms_estimate", round3(budget_->otherMs())},
                         {"other_ms_estimate_undrawn", round3(budget_->otherMs(false))}};
    nlohmann::json trace = nlohmann::json::array();
    for (const auto& t : trace_) trace.push_back({round3(t[0]), round3(t[1]), round3(t[2]), round3(t[3]), int(t[4])});
    s["frame_trace"] = {{"columns", {"frame_ms", "compute_gpu_ms", "compute_allowed_ms", "compute_predicted_ms", "drawn"}},
                        {"frames", trace}};
    std::ofstream(path) << s.dump(2) << "\n";
  }

  ViewerOptions o_;
  Window window_;
  std::unique_ptr<GpuSession> gpu_;
  Context* ctx_ = nullptr;  // the session's context, named
  std::unique_ptr<WindowFrames> frames_;
  std::unique_ptr<FigureRenderer> renderer_;
  std::unique_ptr<ControlPanel> panel_;
  std::unique_ptr<DescriptorArena> arena_;
  std::unique_ptr<GpuTimer> timer_;
  std::unique_ptr<HoverReadout> hover_;
  std::unique_ptr<ScreenshotReadout> screenshot_;
  std::unique_ptr<SweepReadback> sweepReadback_;
  std::map<std::string, double> lastGpu_;
  ColorRange range_;
  MapStrips strips_;
  std::unique_ptr<HeadViews> views_;
  uint64_t seenChanges_ = ~uint64_t(0);
  bool normalize_ = false, busy_ = true;
  Camera camera_;
  Rect plot_;
  uint32_t extentW_ = 0, extentH_ = 0;
  std::unique_ptr<FrameBudget> budget_;
  FrameWork lastWork_;   // what the frame in flight recorded
  bool recorded_ = false;  // a frame was submitted since the last collect
  std::chrono::steady_clock::time_point lastFrameStart_ = std::chrono::steady_clock::now();
  bool keepTrace_ = false;  // a long interactive session would grow it without end
  std::vector<std::array<double, 5>> trace_;  // per frame: wall ms, compute GPU ms, allowed, predicted, drawn
  int drawOwed_ = 3;  // frames to draw whatever else happens (after input, a script's action)
  // The layer and head a pending switch reads, as the last drawn frame named them.
  std::optional<std::pair<uint32_t, uint32_t>> announced_;
  std::chrono::steady_clock::time_point lastDrawn_{};
  int stillFrames_ = 0;
  std::array<double, 4> lastView_{};
  std::string hoverText_;
  PointerInput pointer_;
  std::chrono::steady_clock::time_point startupBegan_{}, lastStartupFrame_{};
  std::string startupWhat_;
  bool startupSaid_ = false;
};

}  // namespace

int runViewer(const ContextOptions& device, const AttentionSpec& spec, const ViewerOptions& options,
              const HeadLoader& loadHead) {
  std::unique_ptr<Viewer> viewer;
  try {
    viewer = std::make_unique<Viewer>(device, spec, options, loadHead);
  } catch (const Viewer::ClosedDuringStartup&) {
    return 0;  // the user closed the window while the kernels were prepared
  }
  return viewer->run();
}

}  // namespace attnscope
