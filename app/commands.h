// The attnscope subcommands. Each registers itself on the CLI11 app.
#pragma once
#include <CLI/CLI.hpp>

#include <memory>

#include "app/options.h"
#include "viz/viewer.h"

namespace attnscope {

void addInfoCommand(CLI::App& app);
void addRenderCommand(CLI::App& app);
void addExportCommand(CLI::App& app);
void addDemoCommand(CLI::App& app);
void addBenchCommand(CLI::App& app);
void addViewCommand(CLI::App& app);
void addLessonCommand(CLI::App& app);
void addTuneCommand(CLI::App& app);

// What `view` and `serve` show: the attention, the heads and layers of the input, and how to
// load any of them onto a device (files are read again per head; presets generated).
struct ViewInput {
  AttentionSpec spec;
  HeadLoader loader;
  uint32_t heads = 1, head = 0;
  std::vector<uint32_t> layers;
  uint32_t layer = 0;
  std::string title;
  std::vector<std::string> tokens;
};
ViewInput openViewInput(const InputOptions& input, const AttentionOptions& attention);
void addServeCommand(CLI::App& app);

struct RenderedFigure {
  std::string path;
  ValueRange range;
  uint32_t texWidth, texHeight;
  double seconds;
};

struct EvaluatedRegion {
  MapRegion region;
  std::unique_ptr<MapJob> job;
  std::vector<float> texels;
  double seconds = 0;
};
EvaluatedRegion evaluateRegion(Session& s, const LoadedInput& in, const MapRegion& region,
                               uint32_t width, uint32_t height, bool quiet);
RenderedFigure writeFigure(Session& s, const LoadedInput& in, const EvaluatedRegion& e,
                           const HeatmapStyle& style, uint32_t width, uint32_t height,
                           const std::string& path);

// Evaluates the region into a texture the size of the figure's plot and writes the PNG.
RenderedFigure renderRegionPng(Session& s, const LoadedInput& in, const MapRegion& region,
                               const HeatmapStyle& style, uint32_t width, uint32_t height,
                               const std::string& path, bool quiet);

}  // namespace attnscope
