#include "viz/map_strips.h"

#include <algorithm>
#include <cmath>

#include "compute/map_job.h"
#include "compute/map_summaries.h"

namespace attnscope {

void MapStrips::compute(Context& ctx, const Image& sweep, const std::vector<float>& texels, const Buffer& rowStats,
                        uint32_t level, uint32_t n) {
  std::vector<float> st(size_t(n) * 4);
  const_cast<Buffer&>(rowStats).download(st.data(), st.size() * 4);
  entropyPrefix_ = rowEntropyPrefix(st, n);
  uint64_t per = uint64_t(1) << level;
  SweepTexels s{texels, sweep.width(), sweep.height(), per, n};
  receivedPerKey_ = receivedPerKeyBlock(s);
  receivedBlock_ = per;
  std::vector<float> expected = expectedByDistance(s);
  expected_ = Image(ctx, uint32_t(expected.size()), 1, VK_FORMAT_R32_SFLOAT,
                    VK_IMAGE_USAGE_SAMPLED_BIT | VK_IMAGE_USAGE_TRANSFER_DST_BIT, "expected by distance");
  uploadImage(ctx, expected_, expected.data(), expected.size() * 4);
  expectedBlock_ = uint32_t(per);
  expectedCenter_ = sweep.height() - 1;
  ready_ = true;
}

void MapStrips::draw(OverlayBuilder& out, const FigureLayout& l, const Camera& camera, const Rect& plot,
                     uint32_t n) const {
  const uint32_t ink = rgba(70, 70, 70), faint = rgba(235, 235, 235);
  out.rect(l.topStrip, faint);
  out.rect(l.sideStrip, faint);
  out.text("received", l.topStrip.x - 6, l.topStrip.y + l.topStrip.h / 2, TextSize::Small, ink, 2);
  out.text("H", l.sideStrip.x + l.sideStrip.w / 2, l.sideStrip.y - 8, TextSize::Small, ink, 1);
  if (!ready_) return;
  double hiR = 0, loR = 1e300;
  for (double r : receivedPerKey_)
    if (r > 0) {
      hiR = std::max(hiR, r);
      loR = std::min(loR, r);
    }
  loR = std::max(loR, hiR * 1e-4);
  for (int x = 0; x < int(plot.w); ++x) {
    double c0 = camera.cellX(x), c1 = camera.cellX(x + 1);
    if (c1 <= 0 || c0 >= n) continue;
    size_t b = size_t(std::clamp(0.5 * (c0 + c1), 0.0, double(n) - 1) / double(receivedBlock_));
    double v = receivedPerKey_[std::min(b, receivedPerKey_.size() - 1)];
    if (!(v > 0) || !(hiR > loR)) continue;
    double f = std::clamp((std::log(v) - std::log(loR)) / (std::log(hiR) - std::log(loR)), 0.02, 1.0);
    float hgt = float(f * l.topStrip.h);
    out.rect({l.topStrip.x + x, l.topStrip.y + l.topStrip.h - hgt, 1, hgt}, ink);
  }
  double maxH = std::log(double(n));
  for (int y = 0; y < int(plot.h); ++y) {
    double r0 = std::clamp(camera.cellY(y), 0.0, double(n)), r1 = std::clamp(camera.cellY(y + 1), 0.0, double(n));
    uint64_t a = uint64_t(r0), b = std::max<uint64_t>(uint64_t(std::ceil(r1)), a + 1);
    if (a >= n) continue;
    b = std::min<uint64_t>(b, n);
    double h = (entropyPrefix_[b] - entropyPrefix_[a]) / double(b - a);
    float wdt = float(std::clamp(h / maxH, 0.0, 1.0) * l.sideStrip.w);
    out.rect({l.sideStrip.x, l.sideStrip.y + y, wdt, 1}, ink);
  }
}

}  // namespace attnscope
