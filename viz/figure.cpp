#include "viz/figure.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace attnscope {

FigureLayout layoutFigure(uint32_t width, uint32_t height, bool withStrips) {
  // Margins in pixels: room for index labels on the left and bottom, titles on top, the
  // colour bar and its labels on the right.
  const float left = 84, right = 110, bottom = 58;
  float top = 56 + (withStrips ? kTopStrip : 0);
  float side = withStrips ? kSideStrip : 0;
  FigureLayout l;
  float w = std::max(16.0f, float(width) - left - right - side);
  float h = std::max(16.0f, float(height) - top - bottom);
  l.plot = {left, top, std::floor(w), std::floor(h)};
  l.colorbar = {left + l.plot.w + side + 24, top, 18, l.plot.h};
  if (withStrips) {
    l.topStrip = {left, top - kTopStrip + 2, l.plot.w, kTopStrip - 6};
    l.sideStrip = {left + l.plot.w + 4, top, side - 8, l.plot.h};
  }
  return l;
}

static double niceStep(double raw) {
  double p = std::pow(10.0, std::floor(std::log10(raw)));
  for (double m : {1.0, 2.0, 5.0, 10.0})
    if (m * p >= raw) return m * p;
  return 10 * p;
}

std::vector<Tick> indexTicks(double begin, double end, float pixelStart, float pixelLength,
                             float minSpacing) {
  std::vector<Tick> ticks;
  if (end <= begin || pixelLength <= 0) return ticks;
  double cells = end - begin;
  double perPixel = cells / pixelLength;
  double step = std::max(1.0, niceStep(perPixel * minSpacing));
  uint64_t s = uint64_t(step);
  // Ticks sit at cell centres: index t is drawn where t + 0.5 is.
  double firstCentre = std::max(0.0, std::ceil((begin - 0.5) / double(s)) * double(s));
  for (double t = firstCentre; t + 0.5 < end; t += double(s)) {
    if (t + 0.5 < begin) continue;
    float pos = pixelStart + float((t + 0.5 - begin) / cells * pixelLength);
    ticks.push_back({pos, std::to_string(uint64_t(t))});
  }
  return ticks;
}

std::string formatValue(double v) {
  char buf[32];
  if (v == 0) return "0";
  double a = std::abs(v);
  if (a >= 1e-3 && a < 1e4)
    std::snprintf(buf, sizeof buf, "%.4g", v);
  else
    std::snprintf(buf, sizeof buf, "%.0e", v);
  return buf;
}

std::vector<Tick> valueTicks(double vmin, double vmax, bool logScale, float pixelStart,
                             float pixelLength) {
  std::vector<Tick> ticks;
  if (!(vmax > vmin)) return ticks;
  auto posOf = [&](double t) {  // t in [0, 1] from vmin to vmax; top of the bar is vmax
    return pixelStart + float((1.0 - t) * pixelLength);
  };
  if (logScale && vmin > 0) {
    double lo = std::log10(vmin), hi = std::log10(vmax);
    int step = std::max(1, int(std::ceil((hi - lo) / 8.0)));
    for (int e = int(std::floor(hi)); e >= int(std::ceil(lo)); e -= step) {  // keep the top decade
      char buf[16];
      std::snprintf(buf, sizeof buf, "1e%d", e);
      ticks.push_back({posOf((e - lo) / (hi - lo)), e == 0 ? "1" : buf});
    }
  } else {
    double step = niceStep((vmax - vmin) / 6.0);
    for (double t = std::ceil(vmin / step) * step; t <= vmax * (1 + 1e-9); t += step)
      ticks.push_back({posOf((t - vmin) / (vmax - vmin)), formatValue(std::abs(t) < step * 1e-9 ? 0.0 : t)});
  }
  return ticks;
}

ValueRange chooseRange(const std::vector<float>& texels, const HeatmapStyle& style) {
  std::vector<float> positive;
  float vmax = 0;
  for (size_t i = 0; i + 3 < texels.size(); i += 4) {
    if (texels[i + 2] < -1e38f) continue;  // fully masked texel
    float v = texels[i + style.channel];
    vmax = std::max(vmax, v);
    if (v > 0) positive.push_back(v);
  }
  ValueRange r{0.0, vmax > 0 ? double(vmax) : 1.0};
  if (style.logScale) {
    double lo = r.vmax * 1e-6;
    if (!positive.empty()) {
      size_t k = positive.size() / 50;  // 2nd percentile: a few outliers do not stretch the scale
      std::nth_element(positive.begin(), positive.begin() + k, positive.end());
      lo = std::max(double(positive[k]), r.vmax * 1e-12);
    }
    r.vmin = std::min(lo, r.vmax * 0.5);
  }
  if (style.vmin) r.vmin = *style.vmin;
  if (style.vmax) r.vmax = *style.vmax;
  return r;
}

void OverlayBuilder::quad(float x0, float y0, float x1, float y1, float u0, float v0, float u1,
                          float v1, uint32_t c) {
  OverlayVertex a{x0, y0, u0, v0, c}, b{x1, y0, u1, v0, c}, d{x0, y1, u0, v1, c}, e{x1, y1, u1, v1, c};
  v_.insert(v_.end(), {a, b, d, b, e, d});
}

void OverlayBuilder::rect(const Rect& r, uint32_t c) {
  quad(r.x, r.y, r.x + r.w, r.y + r.h, font_.whiteU(), font_.whiteV(), font_.whiteU(), font_.whiteV(), c);
}

void OverlayBuilder::text(const std::string& s, float x, float y, TextSize size, uint32_t c, int align) {
  float w = font_.measure(size, s);
  float pen = std::round(align == 0 ? x : align == 1 ? x - w / 2 : x - w);
  float base = std::round(y + font_.ascent(size) * 0.5f - 1);
  for (uint32_t ch : decodeUtf8(s)) {
    const Glyph& g = font_.glyph(size, ch);
    quad(pen + g.x0, base + g.y0, pen + g.x1, base + g.y1, g.u0, g.v0, g.u1, g.v1, c);
    pen += g.advance;
  }
}

void OverlayBuilder::verticalText(const std::string& s, float x, float y, TextSize size, uint32_t c) {
  float w = font_.measure(size, s);
  // Pen runs upwards along the line x; glyph (gx, gy) maps to (x + gy, penY - gx).
  float pen = std::round(y + w / 2);
  float base = std::round(x + font_.ascent(size) * 0.5f - 1);
  for (uint32_t ch : decodeUtf8(s)) {
    const Glyph& g = font_.glyph(size, ch);
    float x0 = base + g.y0, x1 = base + g.y1, y0 = pen - g.x1, y1 = pen - g.x0;
    // Rotated texture coordinates: u runs with -y, v runs with +x.
    OverlayVertex a{x0, y1, g.u0, g.v0, c}, b{x0, y0, g.u1, g.v0, c}, d{x1, y1, g.u0, g.v1, c},
        e{x1, y0, g.u1, g.v1, c};
    v_.insert(v_.end(), {a, b, d, b, e, d});
    pen -= g.advance;
  }
}

void buildFigureOverlay(OverlayBuilder& out, const FigureSpec& spec, const FigureLayout& l,
                        const ValueRange& range) {
  const uint32_t ink = rgba(30, 30, 30), soft = rgba(90, 90, 90);
  const Rect& p = l.plot;
  // Frame around the plot and the colour bar.
  auto frame = [&](const Rect& r) {
    out.rect({r.x - 1, r.y - 1, r.w + 2, 1}, ink);
    out.rect({r.x - 1, r.y + r.h, r.w + 2, 1}, ink);
    out.rect({r.x - 1, r.y, 1, r.h}, ink);
    out.rect({r.x + r.w, r.y, 1, r.h}, ink);
  };
  frame(p);
  frame(l.colorbar);

  double vx0 = spec.useView ? spec.viewX0 : double(spec.region.colBegin);
  double vx1 = spec.useView ? spec.viewX1 : double(spec.region.colEnd);
  double vy0 = spec.useView ? spec.viewY0 : double(spec.region.rowBegin);
  double vy1 = spec.useView ? spec.viewY1 : double(spec.region.rowEnd);
  // Token labels on every cell once cells are wide (x) or tall (y) enough; index ticks else.
  auto fit = [&](const std::string& s, float width) {
    if (out.font().measure(TextSize::Small, s) <= width) return s;
    std::vector<uint32_t> cps = decodeUtf8(s);
    std::string cut;
    for (uint32_t cp : cps) {
      std::string next = cut;
      if (cp < 0x80) next += char(cp);
      else if (cp < 0x800) next += {char(0xc0 | (cp >> 6)), char(0x80 | (cp & 0x3f))};
      else next += '?';
      if (out.font().measure(TextSize::Small, next + "..") > width) break;
      cut = next;
    }
    return cut + "..";
  };
  double pxPerCellX = p.w / std::max(vx1 - vx0, 1e-9), pxPerCellY = p.h / std::max(vy1 - vy0, 1e-9);
  bool tokensX = spec.ticks && spec.tokens && pxPerCellX >= 40, tokensY = spec.ticks && spec.tokens && pxPerCellY >= 15;
  for (const Tick& t : spec.ticks ? indexTicks(vx0, vx1, p.x, p.w, tokensX ? float(pxPerCellX) - 1 : 60) : std::vector<Tick>{}) {
    out.rect({std::round(t.pos), p.y + p.h + 1, 1, 5}, ink);
    std::string label = t.label;
    if (tokensX) label = fit((*spec.tokens)[std::stoull(t.label)], float(pxPerCellX) - 4);
    out.text(label, t.pos, p.y + p.h + 16, TextSize::Small, ink, 1);
  }
  for (const Tick& t : spec.ticks ? indexTicks(vy0, vy1, p.y, p.h, tokensY ? float(pxPerCellY) - 1 : 40) : std::vector<Tick>{}) {
    out.rect({p.x - 6, std::round(t.pos), 5, 1}, ink);
    std::string label = t.label;
    if (tokensY) label = fit((*spec.tokens)[std::stoull(t.label)], 72);
    out.text(label, p.x - 9, t.pos, TextSize::Small, ink, 2);
  }
  out.text(spec.xLabel, p.x + p.w / 2, p.y + p.h + 38, TextSize::Small, soft, 1);
  out.verticalText(spec.yLabel, 14, p.y + p.h / 2, TextSize::Small, soft);
  if (!spec.title.empty()) out.text(spec.title, p.x, 18, TextSize::Large, ink, 0);
  if (!spec.subtitle.empty()) out.text(spec.subtitle, p.x, 40, TextSize::Small, soft, 0);

  const Rect& cb = l.colorbar;
  for (const Tick& t : valueTicks(range.vmin, range.vmax, spec.style.logScale, cb.y, cb.h)) {
    out.rect({cb.x + cb.w + 1, std::round(t.pos), 4, 1}, ink);
    out.text(t.label, cb.x + cb.w + 8, t.pos, TextSize::Small, ink, 0);
  }
  std::string what = spec.normalize ? "obs / exp" : spec.style.channel == kChannelMax ? "max p" : "mean p";
  out.text(what + (spec.style.logScale ? " (log)" : ""), cb.x + cb.w / 2 + 10, cb.y - 12,
           TextSize::Small, soft, 1);
}

}  // namespace attnscope
