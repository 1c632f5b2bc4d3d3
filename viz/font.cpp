#include "viz/font.h"

#include <stb_truetype.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "engine/error.h"

namespace attnscope {

namespace {

constexpr float kPixelSizes[kTextSizes] = {13.0f, 17.0f, 24.0f, 34.0f};

std::vector<uint32_t> atlasCodepoints() {
  std::vector<uint32_t> cps;
  auto range = [&](uint32_t a, uint32_t b) {
    for (uint32_t c = a; c <= b; ++c) cps.push_back(c);
  };
  range(0x20, 0x7e);      // ASCII
  range(0xa0, 0x17f);     // Latin-1 and Latin Extended-A
  range(0x391, 0x3a9);    // Greek capitals
  range(0x3b1, 0x3c9);    // Greek small letters
  range(0x1d40, 0x1d40);  // modifier capital T: Kᵀ
  range(0x2002, 0x2027);  // spaces (the thin space groups digits), dashes, quotes, bullet, ellipsis
  range(0x2070, 0x209c);  // superscripts and subscripts
  range(0x2190, 0x2193);  // arrows
  for (uint32_t c : {0x2211u, 0x2212u, 0x2219u, 0x221au, 0x221du, 0x221eu, 0x2248u, 0x2260u, 0x2264u, 0x2265u,
                     0x22c5u, 0x25b6u, 0x25c0u})
    cps.push_back(c);
  std::sort(cps.begin(), cps.end());
  return cps;
}

}  // namespace

std::string findFontFile() {
  if (const char* env = std::getenv("ATTNSCOPE_FONT"); env && *env) {
    if (!std::filesystem::exists(env))
      throw Error(std::string("ATTNSCOPE_FONT=") + env + " does not exist: point it at a .ttf file");
    return env;
  }
  for (const char* p : {"/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
                        "/usr/share/fonts/TTF/DejaVuSans.ttf",
                        "/usr/local/share/fonts/DejaVuSans.ttf"})
    if (std::filesystem::exists(p)) return p;
  throw Error("no font found for labels: 'apt-get install fonts-dejavu-core' or set ATTNSCOPE_FONT to a .ttf file");
}

FontAtlas::FontAtlas() {
  std::string path = findFontFile();
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string ttf = ss.str();
  if (ttf.empty()) throw Error("cannot read font " + path);

  codepoints_ = atlasCodepoints();
  std::vector<int> cps(codepoints_.begin(), codepoints_.end());
  const uint32_t packHeight = 1024;
  height_ = packHeight + 4;
  pixels_.assign(size_t(width_) * height_, 0);
  stbtt_pack_context pc;
  if (!stbtt_PackBegin(&pc, pixels_.data(), int(width_), int(packHeight), int(width_), 1, nullptr))
    throw Error("cannot pack font " + path);
  std::vector<stbtt_packedchar> packed[kTextSizes];
  for (int s = 0; s < kTextSizes; ++s) {
    packed[s].resize(cps.size());
    // Small sizes are oversampled for crisp edges at fractional positions; large ones need not be.
    stbtt_PackSetOversampling(&pc, s < 2 ? 2 : 1, s < 2 ? 2 : 1);
    stbtt_pack_range r{};
    r.font_size = kPixelSizes[s];
    r.array_of_unicode_codepoints = cps.data();
    r.num_chars = int(cps.size());
    r.chardata_for_range = packed[s].data();
    if (!stbtt_PackFontRanges(&pc, reinterpret_cast<const unsigned char*>(ttf.data()), 0, &r, 1))
      throw Error("font " + path + " could not be baked into the atlas (is it a TrueType font?)");
  }
  stbtt_PackEnd(&pc);

  stbtt_fontinfo info;
  stbtt_InitFont(&info, reinterpret_cast<const unsigned char*>(ttf.data()), 0);
  int asc, desc, gap;
  stbtt_GetFontVMetrics(&info, &asc, &desc, &gap);
  for (int s = 0; s < kTextSizes; ++s) {
    float scale = stbtt_ScaleForPixelHeight(&info, kPixelSizes[s]);
    ascent_[s] = asc * scale;
    lineHeight_[s] = (asc - desc + gap) * scale;
    for (size_t c = 0; c < cps.size(); ++c) {
      float x = 0, y = 0;
      stbtt_aligned_quad q;
      stbtt_GetPackedQuad(packed[s].data(), int(width_), int(packHeight), int(c), &x, &y, &q, 0);
      // The atlas texture is taller than the packed area: rescale v.
      float vs = float(packHeight) / float(height_);
      glyphs_[s].push_back({q.x0, q.y0, q.x1, q.y1, q.s0, q.t0 * vs, q.s1, q.t1 * vs, x});
    }
  }
  // A white patch below the packed glyphs for solid quads.
  for (uint32_t y = packHeight; y < height_; ++y)
    for (uint32_t x = 0; x < 4; ++x) pixels_[size_t(y) * width_ + x] = 255;
  whiteU_ = 2.0f / width_;
  whiteV_ = (packHeight + 2.0f) / height_;
}

bool FontAtlas::has(uint32_t cp) const { return std::binary_search(codepoints_.begin(), codepoints_.end(), cp); }

const Glyph& FontAtlas::glyph(TextSize size, uint32_t cp) const {
  auto it = std::lower_bound(codepoints_.begin(), codepoints_.end(), cp);
  if (it == codepoints_.end() || *it != cp) it = std::lower_bound(codepoints_.begin(), codepoints_.end(), uint32_t('?'));
  return glyphs_[int(size)][size_t(it - codepoints_.begin())];
}

float FontAtlas::measure(TextSize size, const std::string& text) const {
  float w = 0;
  for (uint32_t cp : decodeUtf8(text)) w += glyph(size, cp).advance;
  return w;
}

std::vector<uint32_t> decodeUtf8(const std::string& s) {
  std::vector<uint32_t> out;
  for (size_t i = 0; i < s.size();) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    int len = c < 0x80 ? 1 : (c & 0xe0) == 0xc0 ? 2 : (c & 0xf0) == 0xe0 ? 3 : (c & 0xf8) == 0xf0 ? 4 : 0;
    uint32_t cp = len == 1 ? c : len == 2 ? c & 0x1f : len == 3 ? c & 0x0f : c & 0x07;
    bool ok = len > 0 && i + len <= s.size();
    for (int k = 1; ok && k < len; ++k) {
      unsigned char b = static_cast<unsigned char>(s[i + k]);
      ok = (b & 0xc0) == 0x80;
      cp = cp << 6 | (b & 0x3f);
    }
    out.push_back(ok ? cp : uint32_t('?'));
    i += ok ? size_t(len) : 1;
  }
  return out;
}

}  // namespace attnscope
