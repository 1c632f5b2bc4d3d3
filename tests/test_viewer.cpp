// The viewer as a user runs it, in a real window under Xvfb on the real Vulkan device: a
// scripted session settles, and its screenshot shows exactly what the headless `render` of
// the same view shows, pixel for pixel, with the validation layer on and silent.
#include <gtest/gtest.h>

#include <stb_image.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "viz/figure.h"

namespace fs = std::filesystem;

namespace attnscope::test {
namespace {

int sh(const std::string& cmd, std::string& err) {
  fs::path errFile = fs::temp_directory_path() / ("attnscope-viewer-err-" + std::to_string(::getpid()));
  int status = std::system((cmd + " 2>" + errFile.string() + " >/dev/null").c_str());
  std::ifstream in(errFile);
  err.assign(std::istreambuf_iterator<char>(in), {});
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

TEST(Viewer, ScriptedScreenshotMatchesHeadlessRender) {
  if (std::system("command -v xvfb-run >/dev/null 2>&1") != 0)
    GTEST_SKIP() << "xvfb-run is not installed (apt-get install xvfb xauth); setup.sh installs it";
  fs::path dir = fs::temp_directory_path() / ("attnscope-viewer-test-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  // 2 pixels per cell with cell edges on pixel edges: the plot of a 1280 x 800 window is
  // 1086 x 686 pixels, so the view is 543 x 343 cells starting at (1000, 2000).
  FigureLayout l = layoutFigure(1280, 800);
  ASSERT_EQ(l.plot.w, 1086.0f);
  ASSERT_EQ(l.plot.h, 686.0f);
  std::ofstream(dir / "script.json") << R"({"stats": ")" << (dir / "stats.json").string() << R"(", "steps": [
      {"lookat": [1271.5, 2171.5, 0.5]}, {"settle": true},
      {"screenshot": ")" << (dir / "viewer.png").string() << R"("}]})";
  std::string common = " --tokens 3000 --vmin 1e-8 --vmax 1 --validate";
  std::string err;
  int rc = sh("xvfb-run -a -s '-screen 0 1600x1000x24' " + std::string(ATTNSCOPE_BINARY) + " view --width 1280 --height 800" +
                  common + " --script " + (dir / "script.json").string(),
              err);
  ASSERT_EQ(rc, 0) << err;
  EXPECT_EQ(err.find("validation"), std::string::npos) << err;
  rc = sh(std::string(ATTNSCOPE_BINARY) + " render --rows 2000:2343 --cols 1000:1543 --width 1280 --height 800 -q" +
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
  ASSERT_EQ(w2, 1280);
  ASSERT_EQ(h2, 800);
  size_t differ = 0, total = 0;
  for (int y = int(l.plot.y); y < int(l.plot.y + l.plot.h); ++y)
    for (int x = int(l.plot.x); x < int(l.plot.x + l.plot.w); ++x) {
      const unsigned char* p = a + (size_t(y) * w1 + x) * 4;
      const unsigned char* q = b + (size_t(y) * w2 + x) * 4;
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

}  // namespace
}  // namespace attnscope::test
