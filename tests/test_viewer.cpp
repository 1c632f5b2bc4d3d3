// The viewer as a user runs it, in a real window under Xvfb on the real Vulkan device: a
// scripted session settles, and its screenshot shows exactly what the headless `render` of
// the same view shows, pixel for pixel, with the validation layer on and silent.
#include <gtest/gtest.h>

#include <stb_image.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "tests/cli_support.h"
#include "viz/figure.h"
#include "tests/test_files.h"

namespace fs = std::filesystem;

namespace attnscope::test {
namespace {

// The viewer in a window under Xvfb: its exit code, and its stderr in `err`.
int view(const std::string& args, std::string& err) {
  CliRun r = runInXvfb(args);
  err = r.err;
  return r.exitCode;
}

int sh(const std::string& cmd, std::string& err) {
  fs::path errFile = test::scratchDir("viewer-err") / "stderr.txt";
  int status = std::system((cmd + " 2>" + errFile.string() + " >/dev/null").c_str());
  std::ifstream in(errFile);
  err.assign(std::istreambuf_iterator<char>(in), {});
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

TEST(Viewer, ScriptedScreenshotMatchesHeadlessRender) {
  if (!haveXvfb())
    GTEST_SKIP() << "xvfb-run is not installed (apt-get install xvfb xauth); setup.sh installs it";
  fs::path dir = test::scratchDir("viewer-test");
  fs::create_directories(dir);
  // 2 pixels per cell with cell edges on pixel edges: the viewer's plot in a 1280 x 800
  // window (with its side strips) is 1050 x 658 pixels, so the view is 525 x 329 cells from
  // (1000, 2000). The render's figure is smaller by the strips, so its plot is the same size.
  FigureLayout l = layoutFigure(1280, 800, true);
  FigureLayout r = layoutFigure(1280 - uint32_t(kSideStrip), 800 - uint32_t(kTopStrip));
  ASSERT_EQ(l.plot.w, 1050.0f);
  ASSERT_EQ(l.plot.h, 658.0f);
  ASSERT_EQ(r.plot.w, l.plot.w);
  ASSERT_EQ(r.plot.h, l.plot.h);
  std::ofstream(dir / "script.json") << R"({"stats": ")" << (dir / "stats.json").string() << R"(", "steps": [
      {"lookat": [1262.5, 2164.5, 0.5]}, {"settle": true},
      {"screenshot": ")" << (dir / "viewer.png").string() << R"("}]})";
  std::string common = " --tokens 3000 --vmin 1e-8 --vmax 1 --validate";
  std::string err;
  int rc = view("view --width 1280 --height 800" +
                  common + " --script " + (dir / "script.json").string(),
              err);
  ASSERT_EQ(rc, 0) << err;
  EXPECT_EQ(err.find("validation"), std::string::npos) << err;
  rc = sh(std::string(ATTNSCOPE_BINARY) + " render --rows 2000:2329 --cols 1000:1525 --width 1244 --height 772 -q" +
              common + " -o " + (dir / "render.png").string(),
          err);
  ASSERT_EQ(rc, 0) << err;

  int w1, h1, w2, h2, c;
  unsigned char* a = stbi_load((dir / "viewer.png").string().c_str(), &w1, &h1, &c, 4);
  unsigned char* b = stbi_load((dir / "render.png").string().c_str(), &w2, &h2, &c, 4);
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  ASSERT_EQ(w1, 1280);
  ASSERT_EQ(h1, 800);
  ASSERT_EQ(w2, 1244);
  ASSERT_EQ(h2, 772);
  size_t differ = 0, total = 0;
  for (int y = 0; y < int(l.plot.h); ++y)
    for (int x = 0; x < int(l.plot.w); ++x) {
      const unsigned char* p = a + (size_t(y + int(l.plot.y)) * w1 + x + int(l.plot.x)) * 4;
      const unsigned char* q = b + (size_t(y + int(r.plot.y)) * w2 + x + int(r.plot.x)) * 4;
      ++total;
      if (p[0] != q[0] || p[1] != q[1] || p[2] != q[2]) ++differ;
    }
  stbi_image_free(a);
  stbi_image_free(b);
  EXPECT_EQ(differ, 0u) << differ << " of " << total << " plot pixels differ";
  std::ifstream stats(dir / "stats.json");
  EXPECT_TRUE(stats.good()) << "the script writes frame-time statistics";
  fs::remove_all(dir);
}

// A capture with two layers and its tokens: the layer key moves to the next layer, whose view
// equals the headless render of that layer pixel for pixel (so the viewer really read it). Its
// metadata gives the layers different attention (layer 4 causal; layer 9 a sliding window of
// 1000 with a soft cap of 2 at scale 0.5, as Gemma-2 alternates), which the viewer takes
// from the file at the switch, like render does.
TEST(Viewer, LayerKeyShowsTheNextLayerOfAFile) {
  if (!haveXvfb()) GTEST_SKIP() << "xvfb-run is not installed";
  fs::path dir = test::scratchDir("layer-test");
  fs::create_directories(dir);
  const uint32_t n = 3000, d = 16, heads = 2;
  std::string json = "{", data;
  uint32_t seed = 12345;
  for (uint32_t layer : {4u, 9u})
    for (const char* role : {"q", "k"}) {
      size_t begin = data.size();
      for (uint32_t i = 0; i < heads * n * d; ++i) {
        seed = seed * 1664525u + 1013904223u;
        // Layer 9 is much sharper than layer 4, so the two views differ.
        float v = (float(seed >> 8) / float(1u << 24) - 0.5f) * (layer == 9 ? 6.0f : 1.0f);
        data.append(reinterpret_cast<const char*>(&v), 4);
      }
      json += std::string(json.size() > 1 ? ", " : "") + "\"layers." + std::to_string(layer) + "." + role +
              "\": {\"dtype\": \"F32\", \"shape\": [2, 3000, 16], \"data_offsets\": [" + std::to_string(begin) +
              ", " + std::to_string(data.size()) + "]}";
    }
  std::string meta = R"({\"version\": 1, \"tokens\": 3000, \"layout\": \"hnd\", \"layers\": [)"
                     R"({\"layer\": 4, \"q\": \"layers.4.q\", \"k\": \"layers.4.k\", \"heads\": 2, \"kv_heads\": 2, )"
                     R"(\"head_dim\": 16, \"mask\": \"causal\", \"scale\": 0.25}, )"
                     R"({\"layer\": 9, \"q\": \"layers.9.q\", \"k\": \"layers.9.k\", \"heads\": 2, \"kv_heads\": 2, )"
                     R"(\"head_dim\": 16, \"mask\": \"sliding_window\", \"window\": 1000, \"scale\": 0.5, \"softcap\": 2.0}]})";
  json += ", \"__metadata__\": {\"attnscope\": \"" + meta + "\"}}";
  {
    std::ofstream out(dir / "qk.safetensors", std::ios::binary);
    uint64_t len = json.size();
    for (int i = 0; i < 8; ++i) out.put(char((len >> (8 * i)) & 0xff));
    out << json << data;
    std::ofstream tokens(dir / "tokens.txt");
    for (uint32_t i = 0; i < n; ++i) tokens << "w" << i << "\n";
  }
  FigureLayout l = layoutFigure(1280, 800, true);
  FigureLayout r = layoutFigure(1280 - uint32_t(kSideStrip), 800 - uint32_t(kTopStrip));
  std::ofstream(dir / "script.json") << R"({"stats": ")" << (dir / "stats.json").string() << R"(", "steps": [
      {"key": "."}, {"lookat": [1262.5, 2164.5, 0.5]}, {"settle": true},
      {"screenshot": ")" << (dir / "viewer.png").string() << R"("}]})";
  std::string input = " --qkv " + (dir / "qk.safetensors").string() + " --token-file " + (dir / "tokens.txt").string() +
                      " --head 1 --vmin 1e-8 --vmax 1 --validate";
  std::string err;
  int rc = view("view --width 1280 --height 800" + input + " --script " + (dir / "script.json").string(),
              err);
  ASSERT_EQ(rc, 0) << err;
  EXPECT_EQ(err.find("validation"), std::string::npos) << err;
  std::ifstream statsFile(dir / "stats.json");
  std::string stats((std::istreambuf_iterator<char>(statsFile)), {});
  EXPECT_NE(stats.find("\"layer\": 9"), std::string::npos) << stats;
  EXPECT_NE(stats.find("\"mask\": \"window\""), std::string::npos) << "layer 9's own mask: " << stats;
  EXPECT_NE(stats.find("\"softcap\": 2.0"), std::string::npos) << stats;
  for (uint32_t layer : {4u, 9u}) {
    std::string png = (dir / ("render" + std::to_string(layer) + ".png")).string();
    rc = sh(std::string(ATTNSCOPE_BINARY) + " render --rows 2000:2329 --cols 1000:1525 --width 1244 --height 772 -q" +
                input + " --layer " + std::to_string(layer) + " -o " + png,
            err);
    ASSERT_EQ(rc, 0) << err;
    int w1, h1, w2, h2, c;
    unsigned char* a = stbi_load((dir / "viewer.png").string().c_str(), &w1, &h1, &c, 4);
    unsigned char* b = stbi_load(png.c_str(), &w2, &h2, &c, 4);
    ASSERT_NE(a, nullptr);
    ASSERT_NE(b, nullptr);
    size_t differ = 0;
    int maxDelta = 0;
    for (int y = 0; y < int(l.plot.h); ++y)
      for (int x = 0; x < int(l.plot.w); ++x) {
        const unsigned char* p = a + (size_t(y + int(l.plot.y)) * w1 + x + int(l.plot.x)) * 4;
        const unsigned char* q = b + (size_t(y + int(r.plot.y)) * w2 + x + int(r.plot.x)) * 4;
        int delta = std::max({std::abs(p[0] - q[0]), std::abs(p[1] - q[1]), std::abs(p[2] - q[2])});
        maxDelta = std::max(maxDelta, delta);
        if (delta) ++differ;
      }
    stbi_image_free(a);
    stbi_image_free(b);
    if (layer == 9) {
      // The viewer's row statistics come from its whole-map sweep, the render's from its own
      // pass, summed in another order: p agrees to ~1e-6, which can flip a cell across one
      // colormap step (seen: 3 cells of 170 000); one step of viridis moves a channel by at
      // most 3 levels. More would be a real error.
      EXPECT_LE(maxDelta, 3) << "a plot pixel differs by more than one colour step from the render of layer 9";
      EXPECT_LE(differ, size_t(l.plot.w * l.plot.h / 1000)) << differ << " plot pixels differ";
    } else {
      EXPECT_GT(differ, 10000u) << "layers 4 and 9 should look different";
    }
  }
  fs::remove_all(dir);
}

// 100 000 tokens with a small tile cache: panning at one cell per pixel over far more tiles
// than it holds, the cache stays within --cache-mib, and what the view holds on the device is
// what the allocator says; a cache too small for one view is refused with the size it needs.
TEST(Viewer, HundredThousandTokensStayWithinASmallTileCache) {
  if (!haveXvfb()) GTEST_SKIP() << "xvfb-run is not installed";
  fs::path dir = test::scratchDir("cache-test");
  fs::create_directories(dir);
  std::ofstream script(dir / "script.json");
  script << R"({"stats": ")" << (dir / "stats.json").string() << R"(", "steps": [)";
  for (int i = 0; i < 6; ++i)
    script << R"({"lookat": [)" << 20000 + 13000 * i << ", " << 90000 - 9000 * i << R"(, 1.0]}, {"settle": "view"}, )";
  script << R"({"frames": 2}]})";
  script.close();
  std::string err;
  std::string args = "view --width 1280 --height 800 --tokens 100000 --validate";
  int rc = view(args + " --cache-mib 40 --script " + (dir / "script.json").string(), err);
  ASSERT_EQ(rc, 0) << err;
  EXPECT_EQ(err.find("validation"), std::string::npos) << err;
  std::ifstream statsFile(dir / "stats.json");
  nlohmann::json stats = nlohmann::json::parse(statsFile);
  EXPECT_EQ(stats["cache_budget_bytes"].get<uint64_t>(), uint64_t(40) << 20);
  EXPECT_LE(stats["cache_bytes"].get<uint64_t>(), uint64_t(40) << 20);
  EXPECT_GE(stats["cache_bytes"].get<uint64_t>(), uint64_t(20) << 20) << "the cache was used";
  // Everything else the view holds: the head (Q, K: 2 x 100 000 x 64 floats), the row
  // statistics, the sweep and at most one job's scratch.
  uint64_t inUse = stats["device_bytes_in_use"].get<uint64_t>(), viewBytes = stats["view_device_bytes"].get<uint64_t>();
  EXPECT_LE(viewBytes, inUse);
  EXPECT_LE(inUse - viewBytes, uint64_t(2) * 100000 * 64 * 4 + (uint64_t(8) << 20)) << stats.dump();
  rc = view(args + " --cache-mib 8 --script " + (dir / "script.json").string(), err);
  EXPECT_EQ(rc, 1);
  EXPECT_NE(err.find("--cache-mib 8 cannot hold the tiles of one 1280x800 view"), std::string::npos) << err;
  fs::remove_all(dir);
}

// While the camera rests and the whole-map sweep runs, frames between draws only compute
// (no image acquired, nothing presented; the validation layer stays silent), the picture is
// still drawn every so often, and whatever the script does is drawn. --draw-every-frame
// draws them all.
TEST(Viewer, RestingFramesBetweenDrawsOnlyCompute) {
  if (!haveXvfb()) GTEST_SKIP() << "xvfb-run is not installed";
  fs::path dir = test::scratchDir("resting-test");
  fs::create_directories(dir);
  std::ofstream(dir / "script.json") << R"({"stats": ")" << (dir / "stats.json").string() << R"(", "steps": [
      {"settle": true}, {"zoom": 1.2, "at": [500, 400], "frames": 5}, {"settle": true}]})";
  std::string args = "view --width 800 --height 600 --tokens 24000 --validate --script " + (dir / "script.json").string();
  // Frames and drawn frames of the run, from the per-frame trace (it leaves out the last frame).
  auto count = [&](size_t& frames, size_t& drawn) {
    nlohmann::json stats = nlohmann::json::parse(std::ifstream(dir / "stats.json"));
    ASSERT_EQ(stats["frame_trace"]["columns"].back(), "drawn");
    frames = drawn = 0;
    for (const auto& f : stats["frame_trace"]["frames"]) {
      ++frames;
      drawn += f.back().get<int>();
    }
    size_t intervals = stats["drawn_frame_interval"]["frames"].get<size_t>();
    EXPECT_TRUE(intervals == drawn || intervals == drawn + 1) << intervals << " drawn, the trace says " << drawn;
  };
  std::string err;
  int rc = view(args, err);
  ASSERT_EQ(rc, 0) << err;
  EXPECT_EQ(err.find("validation"), std::string::npos) << err;
  size_t frames, drawn;
  count(frames, drawn);
  EXPECT_GT(frames - drawn, 10u) << "frames that only computed while the sweep ran";
  EXPECT_GT(drawn, 8u) << "the resting picture is drawn every so often, the zoom every frame";
  rc = view(args + " --draw-every-frame", err);
  ASSERT_EQ(rc, 0) << err;
  EXPECT_EQ(err.find("validation"), std::string::npos) << err;
  count(frames, drawn);
  EXPECT_EQ(drawn, frames);
  fs::remove_all(dir);
}

TEST(Viewer, HeadsGridSettlesAndAClickFocusesTheHead) {
  if (!haveXvfb()) GTEST_SKIP() << "xvfb-run is not installed";
  fs::path dir = test::scratchDir("grid-test");
  fs::create_directories(dir);
  // Click the second small multiple (head 1, top right of a 2 x 2 grid): the view leaves the
  // grid and shows head 1, which the title names.
  FigureLayout fl = layoutFigure(1280, 800, true);
  float side = std::floor(std::min((fl.plot.w - 8) / 2, (fl.plot.h - 8) / 2));
  double cx = fl.plot.x + side + 8 + side / 2, cy = fl.plot.y + side / 2;
  std::ofstream(dir / "script.json") << R"({"stats": ")" << (dir / "stats.json").string() << R"(", "steps": [{"key": "G"}, {"settle": true},
      {"screenshot": ")" << (dir / "grid.png").string() << R"("}, {"click": [)" << cx << ", " << cy << R"(]},
      {"settle": true}, {"screenshot": ")" << (dir / "focused.png").string() << R"("}]})";
  std::string err;
  int rc = view("view --width 1280 --height 800 --tokens 2000 --heads 4 --validate --script " +
                  (dir / "script.json").string(),
              err);
  ASSERT_EQ(rc, 0) << err;
  EXPECT_EQ(err.find("validation"), std::string::npos) << err;
  int w, h, c;
  unsigned char* px = stbi_load((dir / "grid.png").string().c_str(), &w, &h, &c, 4);
  ASSERT_NE(px, nullptr);
  // Four small multiples: the lower-left corner of the second row's first cell holds data
  // (a causal map's lower triangle), not the background.
  FigureLayout l = layoutFigure(uint32_t(w), uint32_t(h), true);
  int x = int(l.plot.x) + 12, y = int(l.plot.y + l.plot.h * 0.45);
  const unsigned char* p = px + (size_t(y) * w + x) * 4;
  EXPECT_FALSE(p[0] == 255 && p[1] == 255 && p[2] == 255) << "the first small multiple is drawn";
  stbi_image_free(px);
  EXPECT_TRUE(fs::exists(dir / "focused.png"));
  std::ifstream statsFile(dir / "stats.json");
  std::string stats((std::istreambuf_iterator<char>(statsFile)), {});
  EXPECT_NE(stats.find("\"head\": 1"), std::string::npos) << stats;
  EXPECT_NE(stats.find("\"grid\": false"), std::string::npos) << stats;
  fs::remove_all(dir);
}

}  // namespace
}  // namespace attnscope::test
