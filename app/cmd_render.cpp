#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>

#include "app/commands.h"
#include "app/progress.h"
#include "compute/helper_devices.h"
#include "engine/error.h"
#include "lessons/lessons.h"
#include "viz/figure_renderer.h"
#include "viz/map_figure.h"

namespace attnscope {

static std::string fmtCount(double v) {
  char buf[32];
  if (v >= 1e12) std::snprintf(buf, sizeof buf, "%.2f T", v / 1e12);
  else if (v >= 1e9) std::snprintf(buf, sizeof buf, "%.2f G", v / 1e9);
  else if (v >= 1e6) std::snprintf(buf, sizeof buf, "%.2f M", v / 1e6);
  else std::snprintf(buf, sizeof buf, "%.0f ", v);
  return buf;
}

EvaluatedRegion evaluateRegion(Session& s, const LoadedInput& in, const MapRegion& region,
                               uint32_t width, uint32_t height, bool quiet) {
  auto t0 = std::chrono::steady_clock::now();
  FigureLayout layout = layoutFigure(width, height);
  EvaluatedRegion e;
  e.region = region;
  e.job = std::make_unique<MapJob>(*s.ctx, *s.kernels, in.head, in.spec, region, uint32_t(layout.plot.w),
                                   uint32_t(layout.plot.h));
  runMapJob(s, *e.job, "attention map", quiet);
  e.texels = readbackImage(*s.ctx, e.job->image());
  e.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (!quiet)
    std::fprintf(stderr, "  %s cells, %sFLOP in %.1f s\n", fmtCount(double(region.rows()) * double(region.cols())).c_str(),
                 fmtCount(e.job->totalFlops()).c_str(), e.seconds);
  return e;
}

RenderedFigure writeFigure(Session& s, const LoadedInput& in, const EvaluatedRegion& e, const HeatmapStyle& style,
                           uint32_t width, uint32_t height, const std::string& path) {
  auto t0 = std::chrono::steady_clock::now();
  FigureSpec fig = mapFigureSpec(in.spec, e.region, style, in.description, &in.tokens, e.job->width(),
                                 e.job->height(), width, height);
  ValueRange range = renderFigurePng(*s.ctx, s.pngRenderer(), fig, e.job->image(), e.texels, path);
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return {path, range, e.job->width(), e.job->height(), e.seconds + secs};
}

RenderedFigure renderRegionPng(Session& s, const LoadedInput& in, const MapRegion& region,
                               const HeatmapStyle& style, uint32_t width, uint32_t height,
                               const std::string& path, bool quiet) {
  EvaluatedRegion e = evaluateRegion(s, in, region, width, height, quiet);
  return writeFigure(s, in, e, style, width, height, path);
}

// What a script needs to find the map in the PNG: the plot rectangle in pixels.
static void printRendered(const RenderedFigure& r, uint32_t width, uint32_t height) {
  Rect plot = layoutFigure(width, height).plot;
  std::printf("wrote %s (%ux%u, %ux%u texels, plot at %g %g %g %g)\n", r.path.c_str(), width, height, r.texWidth,
              r.texHeight, plot.x, plot.y, plot.w, plot.h);
}

void addRenderCommand(CLI::App& app) {
  auto* cmd = app.add_subcommand("render", "Render (a rectangle of) an attention map to PNG");
  struct Opts {
    DeviceOptions device;
    InputOptions input;
    AttentionOptions attention;
    RegionOptions region;
    StyleOptions style;
    std::string out = "attention.png";
    bool quiet = false;
  };
  auto o = std::make_shared<Opts>();
  o->device.add(*cmd);
  o->input.add(*cmd, 4096);
  o->attention.add(*cmd);
  o->region.add(*cmd);
  o->style.add(*cmd);
  cmd->add_option("-o,--out", o->out, "PNG file to write")->capture_default_str();
  cmd->add_flag("-q,--quiet", o->quiet, "No progress bar");
  cmd->callback([o] {
    HeatmapStyle style = o->style.style();
    if (o->input.fromFiles()) {
      // Shapes come from the files; everything else is checked before the GPU starts.
      Session s(o->device);
      LoadedInput in = loadInput(s, o->input, o->attention, false, o->quiet);
      MapRegion region = o->region.resolve(in.spec);
      RenderedFigure r = renderRegionPng(s, in, region, style, o->style.width, o->style.height, o->out, o->quiet);
      printRendered(r, o->style.width, o->style.height);
      return;
    }
    MapRegion region = o->region.resolve(syntheticAttention(o->attention, o->input).spec);
    Session s(o->device);
    LoadedInput in = loadInput(s, o->input, o->attention, false, o->quiet);
    RenderedFigure r = renderRegionPng(s, in, region, style, o->style.width, o->style.height, o->out, o->quiet);
    printRendered(r, o->style.width, o->style.height);
  });
}

void addDemoCommand(CLI::App& app) {
  auto* cmd = app.add_subcommand("demo", "The built-in demo: a 100 000-token causal map as a whole and zoomed in, and the lessons' pictures, to PNG");
  struct Opts {
    DeviceOptions device;
    std::string outDir = "attnscope-demo";
    uint32_t tokens = 100000;
    bool quiet = false;
  };
  auto o = std::make_shared<Opts>();
  o->device.add(*cmd);
  cmd->add_option("--out-dir", o->outDir, "Folder for the PNGs")->capture_default_str();
  cmd->add_option("-n,--tokens", o->tokens, "Tokens")->capture_default_str();
  cmd->add_flag("-q,--quiet", o->quiet, "No progress bar");
  cmd->callback([o] {
    namespace fs = std::filesystem;
    if (o->tokens < 1000) throw Error("the demo needs at least 1000 tokens");
    std::error_code ec;
    fs::create_directories(o->outDir, ec);
    if (ec) throw Error("cannot create folder '" + o->outDir + "': " + ec.message());
    Session s(o->device);
    std::printf("attnscope demo on %s\n", s.ctx->caps().name.c_str());
    InputOptions input;
    input.preset = "mixed";
    input.tokens = o->tokens;
    AttentionOptions attention;  // causal
    LoadedInput in = loadInput(s, input, attention, false, o->quiet);
    uint32_t n = o->tokens;
    std::printf("%u tokens, d = 64, causal mask: %.3g cells, a dense float32 map would take %.1f GB\n", n,
                double(n) * n, double(n) * n * 4 / 1e9);

    struct View { const char* file; const char* what; MapRegion region; HeatmapStyle style; };
    uint32_t mid = n / 5 * 2;
    HeatmapStyle overview;            // log scale, mean per pixel
    HeatmapStyle peaks = overview;    // max per pixel keeps single sharp weights visible
    peaks.channel = kChannelMax;
    HeatmapStyle cells = overview;
    View views[] = {
        {"overview.png", "the whole map (mean per pixel)", {0, n, 0, n}, overview},
        {"overview-max.png", "the whole map (max per pixel)", {0, n, 0, n}, peaks},
        {"zoom-diagonal.png", "zoom on the diagonal, cells as pixel blocks", {mid, mid + 128, mid - 64, mid + 128}, cells},
        {"zoom-start.png", "the first 1000 tokens: the sink column", {0, 1000, 0, 1000}, overview},
    };
    std::unique_ptr<EvaluatedRegion> last;
    for (const View& v : views) {
      std::string path = (fs::path(o->outDir) / v.file).string();
      std::printf("rendering %s ...\n", v.what);
      std::fflush(stdout);
      // Max and mean come out of the same pass: a view already evaluated is drawn again.
      bool same = last && last->region.rowBegin == v.region.rowBegin && last->region.rowEnd == v.region.rowEnd &&
                  last->region.colBegin == v.region.colBegin && last->region.colEnd == v.region.colEnd;
      if (!same) last = std::make_unique<EvaluatedRegion>(evaluateRegion(s, in, v.region, 1024, 1024, o->quiet));
      RenderedFigure r = writeFigure(s, in, *last, v.style, 1024, 1024, path);
      std::printf("  wrote %s  (%.1f s)\n", fs::absolute(r.path).c_str(), same ? 0.0 : r.seconds);
    }
    // The lessons a teacher starts with, as pictures (attnscope lesson opens them live).
    {
      auto lessons = lessons::loadLessons();  // after the session: destroyed before it
      ScenePngWriter writer(*s.ctx, s.pngRenderer());  // the maps' renderer: one font bake
      lessons::LessonEnv env{*s.ctx, *s.kernels, writer.font()};
      fs::path dir = fs::path(o->outDir) / "lessons";
      fs::create_directories(dir, ec);
      writer.write(lessons::drawContents(writer.font(), lessons, 0, 1280, 800), (dir / "contents.png").string());
      // Every step of every lesson but quadratic-cost (it times a million tokens: see
      // 'attnscope lesson').
      std::vector<std::pair<size_t, size_t>> order;  // (lesson, step)
      for (size_t i = 0; i < lessons.size(); ++i)
        if (lessons[i]->name() != "quadratic-cost")
          for (size_t step = 0; step < lessons[i]->steps(); ++step) order.emplace_back(i, step);
      const size_t total = 1 + order.size();
      std::atomic<size_t> pictures{1};
      auto drawStep = [&](lessons::Lesson& l, size_t step, ScenePngWriter& w, lessons::LessonEnv& e) {
        if (cancelRequested()) throw Cancelled();
        char file[64];
        std::snprintf(file, sizeof file, "%s-%02zu.png", l.name().c_str(), step + 1);
        w.write(l.draw(e, step, 1280, 800), (dir / file).string());
        ++pictures;
      };
      // 3 s once Mesa's cache is warm, ~20 s on a machine's first run (each picture's kernels
      // and draws compiled at their first use, one after another on the device's queue
      // thread; why-sqrt-d alone ~12 s: a kernel per d). The pictures are independent: on a
      // CPU device helper devices draw and write some at the same time (helper_devices.h),
      // each with its own lessons, renderer and font. What no device finished is drawn here
      // afterwards, where an error is reported.
      struct HelperLessons {
        std::vector<std::unique_ptr<lessons::Lesson>> lessons;
        std::unique_ptr<ScenePngWriter> writer;
        std::unique_ptr<lessons::LessonEnv> env;
      };
      std::vector<HelperLessons> helpers(kMaxHelperDevices + 1);
      ProgressBar bar("lesson pictures", o->quiet);
      std::vector<int> drawnOn = spreadOverHelperDevices(
          *s.ctx, *s.kernels, order.size(),
          [&](Context& c, Kernels& k, unsigned slot, size_t unit) {
            auto [lesson, step] = order[unit];
            if (slot == 0) {
              drawStep(*lessons[lesson], step, writer, env);
            } else {
              HelperLessons& h = helpers[slot];
              if (!h.writer) {
                h.lessons = lessons::loadLessons();
                h.writer = std::make_unique<ScenePngWriter>(c, k.compiler());
                h.env = std::make_unique<lessons::LessonEnv>(lessons::LessonEnv{c, k, h.writer->font()});
              }
              drawStep(*h.lessons[lesson], step, *h.writer, *h.env);
            }
          },
          HelperHooks{{}, [&](unsigned slot) { helpers[slot] = HelperLessons{}; }},  // before its device goes
          [&](double) { bar.update(std::min(1.0, double(pictures) / total)); });
      for (size_t unit = 0; unit < order.size(); ++unit)
        if (drawnOn[unit] < 0) drawStep(*lessons[order[unit].first], order[unit].second, writer, env);
      bar.finish();
      std::printf("wrote %zu lesson pictures to %s (live: attnscope lesson)\n", total, fs::absolute(dir).c_str());
    }
    std::printf("done: open the PNGs in %s\n", fs::absolute(o->outDir).c_str());
  });
}

}  // namespace attnscope
