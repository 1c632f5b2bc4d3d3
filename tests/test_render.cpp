// The figure as pixels: the heatmap shows each texel's value through the colormap, masked
// cells in their own colour, and the PNG is what was rendered. Reads the PNG back.
#include <gtest/gtest.h>

#include <stb_image.h>

#include <algorithm>
#include <cmath>
#include <filesystem>

#include "tests/gpu_fixture.h"
#include "viz/colormap.h"
#include "viz/figure_renderer.h"
#include "tests/test_files.h"

namespace fs = std::filesystem;

namespace attnscope::test {
namespace {

class Render : public GpuTest {};

TEST_F(Render, HeatmapPixelsFollowTheColormap) {
  Gpu& g = gpu();
  const uint32_t n = 40, d = 8;
  ref::Matrix q = ref::randomMatrix(n, d, 3.0, 5), k = ref::randomMatrix(n, d, 3.0, 6);
  HeadData head = upload(g, q, k);
  AttentionSpec spec;
  spec.n = n;
  spec.d = d;
  spec.mask = MaskKind::Causal;
  for (bool logScale : {false, true}) {
    FigureSpec fig;
    fig.width = 400;
    fig.height = 300;
    fig.region = {0, n, 0, n};
    fig.style.logScale = logScale;
    fig.style.colormap = "magma";
    FigureLayout layout = layoutFigure(fig.width, fig.height);
    MapResult r = evaluate(g, head, spec, fig.region, n, n);  // one cell per texel
    MapJob job(*g.ctx, *g.kernels, head, spec, fig.region, n, n);
    runToCompletion(g, job);
    fs::path png = test::scratchDir("render-test") / "figure.png";
    ValueRange range = renderFigurePng(*g.ctx, *g.compiler, fig, job.image(), r.texels, png.string());
    int w, h, comp;
    unsigned char* px = stbi_load(png.string().c_str(), &w, &h, &comp, 4);
    ASSERT_NE(px, nullptr);
    ASSERT_EQ(w, 400);
    ASSERT_EQ(h, 300);
    const Colormaps& maps = Colormaps::get();
    uint32_t row = maps.index("magma");
    int checked = 0;
    for (uint32_t i = 0; i < n; i += 3)
      for (uint32_t j = 0; j < n; j += 3) {
        // The pixel at the centre of cell (i, j).
        int x = int(layout.plot.x + (j + 0.5) * layout.plot.w / n);
        int y = int(layout.plot.y + (i + 0.5) * layout.plot.h / n);
        const unsigned char* p = px + (size_t(y) * w + x) * 4;
        std::array<uint8_t, 3> want;
        if (j > i) {
          want = {uint8_t(kMaskedColor & 255), uint8_t((kMaskedColor >> 8) & 255), uint8_t((kMaskedColor >> 16) & 255)};
        } else {
          double v = r.at(j, i, kChannelMean);
          double t = logScale ? (std::log(std::max(v, 1e-38)) - std::log(range.vmin)) / (std::log(range.vmax) - std::log(range.vmin))
                              : (v - range.vmin) / (range.vmax - range.vmin);
          int index = int(std::clamp(t, 0.0, 1.0) * 255.0 + 0.5);
          want = maps.color(row, uint32_t(index));
          // A value right on an entry boundary may round either way in float32.
          std::array<uint8_t, 3> alt = maps.color(row, uint32_t(std::clamp(index + (t * 255 - index > 0 ? 1 : -1), 0, 255)));
          if (p[0] == alt[0] && p[1] == alt[1] && p[2] == alt[2]) want = alt;
        }
        EXPECT_EQ(p[0], want[0]) << "cell " << i << "," << j << " log=" << logScale;
        EXPECT_EQ(p[1], want[1]) << "cell " << i << "," << j;
        EXPECT_EQ(p[2], want[2]) << "cell " << i << "," << j;
        ++checked;
      }
    EXPECT_GT(checked, 100);
    stbi_image_free(px);
    fs::remove(png);
  }
}

TEST(Figure, TicksAreNiceAndInside) {
  auto ticks = indexTicks(0, 100000, 84, 830, 80);
  ASSERT_GE(ticks.size(), 5u);
  EXPECT_EQ(ticks[0].label, "0");
  EXPECT_EQ(ticks[1].label, "10000");
  for (auto& t : ticks) {
    EXPECT_GE(t.pos, 84.0f);
    EXPECT_LE(t.pos, 84.0f + 830.0f);
  }
  auto fine = indexTicks(40000, 40160, 0, 900, 40);
  EXPECT_EQ(fine[0].label, "40000");
  auto logTicks = valueTicks(1e-9, 1.0, true, 0, 500);
  auto one = std::find_if(logTicks.begin(), logTicks.end(), [](const Tick& t) { return t.label == "1"; });
  ASSERT_NE(one, logTicks.end()) << "the top decade is labelled";
  EXPECT_NEAR(one->pos, 0.0f, 1e-3);
}

TEST(Figure, RangeSkipsMaskedTexelsAndOutliers) {
  std::vector<float> texels;
  auto add = [&](float mx, float mean, float logit) { texels.insert(texels.end(), {mx, mean, logit, 0}); };
  add(0, 0, -3.4e38f);  // fully masked
  for (int i = 1; i <= 100; ++i) add(float(i) / 100, float(i) / 1000, 0);
  HeatmapStyle lin;
  lin.logScale = false;
  ValueRange r = chooseRange(texels, lin);
  EXPECT_DOUBLE_EQ(r.vmin, 0.0);
  EXPECT_NEAR(r.vmax, 0.1, 1e-7);
  HeatmapStyle lg;
  ValueRange l = chooseRange(texels, lg);
  EXPECT_GT(l.vmin, 0.0);
  EXPECT_LT(l.vmin, 0.01);
}

}  // namespace
}  // namespace attnscope::test
