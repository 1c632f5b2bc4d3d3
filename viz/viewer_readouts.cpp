#include "viz/viewer_readouts.h"

#include <cmath>
#include <cstdio>
#include <cstring>

#include "engine/barriers.h"
#include "engine/error.h"
#include "viz/figure.h"
#include "viz/figure_renderer.h"
#include "viz/swapchain.h"

namespace attnscope {

HoverReadout::HoverReadout(Context& ctx)
    : readback_(ctx, 16 + 16, VK_BUFFER_USAGE_TRANSFER_DST_BIT, MemoryUse::Readback, "hover readback") {}

void HoverReadout::record(Recording& rec, const std::vector<DrawTile>& draws, const TileView& tiles, double cx,
                          double cy, uint32_t n) {
  cell_ = !(cx < 0 || cy < 0 || cx >= n || cy >= n);
  if (!cell_) return;
  i_ = uint64_t(cy);
  j_ = uint64_t(cx);
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
    cellsPerTexel_ = per;
    pending_ = true;
    break;
  }
  // The row's softmax statistics, once the sweep has left them for every row.
  statsValid_ = tiles.rowStatsReady();
  if (statsValid_) {
    VkBufferCopy c{i_ * kStatsBytes, 16, kStatsBytes};
    vkCmdCopyBuffer(rec.cmd, tiles.rowStatsBuffer().handle(), readback_.handle(), 1, &c);
  }
  // The copies finish before the host reads them after the fence.
  barrier::transferToHost(rec.cmd);
}

void HoverReadout::collect() {
  if (!pending_) return;
  pending_ = false;
  readback_.invalidate();
  std::memcpy(texel_, readback_.mapped(), 16);
  std::memcpy(stats_, static_cast<char*>(readback_.mapped()) + 16, 16);
  valid_ = true;
}

std::string HoverReadout::text(const std::vector<std::string>& tokens) const {
  if (!cell_ || !valid_) return "";
  char r[256];
  if (cellsPerTexel_ <= 1.0)
    std::snprintf(r, sizeof r, "i %llu, j %llu: p %.4g, logit %s", (unsigned long long)i_, (unsigned long long)j_,
                  texel_[1], texel_[2] < -1e38f ? "masked" : formatValue(texel_[2]).c_str());
  else
    std::snprintf(r, sizeof r, "i %llu, j %llu: block of %.0f x %.0f cells, max p %.3g, mean p %.3g",
                  (unsigned long long)i_, (unsigned long long)j_, cellsPerTexel_, cellsPerTexel_, texel_[0], texel_[1]);
  std::string out = r;
  if (!tokens.empty()) out += "  [" + tokens[i_] + " -> " + tokens[j_] + "]";
  if (statsValid_ && stats_[1] > 0) {
    char s[160];
    double l = stats_[1];
    std::snprintf(s, sizeof s, "; row %llu: max logit %.4g, sum exp(s - max) %.4g, entropy %.3g",
                  (unsigned long long)i_, stats_[0], l, std::log(l) - stats_[2] / l);
    out += s;
  }
  return out;
}

void ScreenshotReadout::requestNumbered() {
  char name[64];
  std::snprintf(name, sizeof name, "attnscope-screenshot-%d.png", ++count_);
  request(name);
}

void ScreenshotReadout::record(VkCommandBuffer cmd, const Swapchain& swapchain, uint32_t index, uint32_t w, uint32_t h) {
  requested_ = false;
  if (!swapchain.copyable()) throw Error("this window system does not allow copying the window's image");
  w_ = w;
  h_ = h;
  uint64_t bytes = uint64_t(w) * h * 4;
  if (!buffer_ || buffer_.size() < bytes)
    buffer_ = Buffer(ctx_, bytes, VK_BUFFER_USAGE_TRANSFER_DST_BIT, MemoryUse::Readback, "screenshot");
  VkImage img = swapchain.image(index);
  // The render pass left the image ready to present; copy it out and hand it back.
  barrier::imageLayout(cmd, img, VK_IMAGE_LAYOUT_PRESENT_SRC_KHR, VK_IMAGE_LAYOUT_TRANSFER_SRC_OPTIMAL,
                       VK_PIPELINE_STAGE_COLOR_ATTACHMENT_OUTPUT_BIT, VK_ACCESS_COLOR_ATTACHMENT_WRITE_BIT,
                       VK_PIPELINE_STAGE_TRANSFER_BIT, VK_ACCESS_TRANSFER_READ_BIT);
  VkBufferImageCopy c{};
  c.imageSubresource = {VK_IMAGE_ASPECT_COLOR_BIT, 0, 0, 1};
  c.imageExtent = {w, h, 1};
  vkCmdCopyImageToBuffer(cmd, img, VK_IMAGE_LAYOUT_TRANSFER_SRC_OPTIMAL, buffer_.handle(), 1, &c);
  // The copy finishes before presentation and before the host reads the pixels.
  barrier::imageLayout(cmd, img, VK_IMAGE_LAYOUT_TRANSFER_SRC_OPTIMAL, VK_IMAGE_LAYOUT_PRESENT_SRC_KHR,
                       VK_PIPELINE_STAGE_TRANSFER_BIT, VK_ACCESS_TRANSFER_READ_BIT, VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT, 0);
  barrier::transferToHost(cmd);
  pending_ = true;
}

void ScreenshotReadout::collect(VkFormat format) {
  if (!pending_) return;
  pending_ = false;
  buffer_.invalidate();
  std::vector<uint8_t> px(size_t(w_) * h_ * 4);
  std::memcpy(px.data(), buffer_.mapped(), px.size());
  if (format == VK_FORMAT_B8G8R8A8_UNORM)
    for (size_t i = 0; i < px.size(); i += 4) std::swap(px[i], px[i + 2]);
  for (size_t i = 3; i < px.size(); i += 4) px[i] = 255;
  writePng(path_, w_, h_, px.data());
  std::printf("wrote %s\n", path_.c_str());
  std::fflush(stdout);
  path_.clear();
  done_ = true;
}

void SweepReadback::request(const Image& image, uint64_t generation) {
  if ((requested_ || pending_ || ready_) && generation_ == generation && image_ == &image) return;
  image_ = &image;
  width_ = image.width();
  height_ = image.height();
  generation_ = generation;
  requested_ = true;
  pending_ = ready_ = false;
}

void SweepReadback::record(VkCommandBuffer cmd) {
  if (!requested_) return;
  requested_ = false;
  uint64_t bytes = uint64_t(width_) * height_ * 16;
  if (!buffer_ || buffer_.size() < bytes)
    buffer_ = Buffer(ctx_, bytes, VK_BUFFER_USAGE_TRANSFER_DST_BIT, MemoryUse::Readback, "sweep readback");
  // The sweep's last piece ended with a barrier that makes its writes visible to transfers.
  VkBufferImageCopy c{};
  c.imageSubresource = {VK_IMAGE_ASPECT_COLOR_BIT, 0, 0, 1};
  c.imageExtent = {width_, height_, 1};
  vkCmdCopyImageToBuffer(cmd, image_->handle(), VK_IMAGE_LAYOUT_GENERAL, buffer_.handle(), 1, &c);
  // The copy finishes before the host reads the texels.
  barrier::transferToHost(cmd);
  pending_ = true;
}

void SweepReadback::collect() {
  if (!pending_) return;
  pending_ = false;
  ready_ = true;
}

std::vector<float> SweepReadback::take() {
  ready_ = false;
  uint64_t floats = uint64_t(width_) * height_ * 4;
  buffer_.invalidate();
  std::vector<float> out(floats);
  std::memcpy(out.data(), buffer_.mapped(), floats * 4);
  return out;
}

}  // namespace attnscope
