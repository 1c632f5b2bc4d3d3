#include "viz/font.h"

#include <stb_truetype.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "engine/error.h"

namespace attnscope {

namespace {

constexpr float kPixelSizes[2] = {13.0f, 17.0f};
constexpr int kFirst = 32, kCount = 95;             // ASCII
constexpr int kLatinFirst = 0xa0, kLatinCount = 0xe0;  // U+00A0..U+017F

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

  const uint32_t packHeight = 512;
  height_ = packHeight + 4;
  pixels_.assign(size_t(width_) * height_, 0);
  stbtt_pack_context pc;
  if (!stbtt_PackBegin(&pc, pixels_.data(), int(width_), int(packHeight), int(width_), 1, nullptr))
    throw Error("cannot pack font " + path);
  stbtt_PackSetOversampling(&pc, 2, 2);
  stbtt_packedchar packed[2][kCount + kLatinCount];
  for (int s = 0; s < 2; ++s)
    if (!stbtt_PackFontRange(&pc, reinterpret_cast<const unsigned char*>(ttf.data()), 0, kPixelSizes[s],
                             kFirst, kCount, packed[s]) ||
        !stbtt_PackFontRange(&pc, reinterpret_cast<const unsigned char*>(ttf.data()), 0, kPixelSizes[s],
                             kLatinFirst, kLatinCount, packed[s] + kCount))
      throw Error("font " + path + " could not be baked (is it a TrueType font?)");
  stbtt_PackEnd(&pc);

  stbtt_fontinfo info;
  stbtt_InitFont(&info, reinterpret_cast<const unsigned char*>(ttf.data()), 0);
  int asc, desc, gap;
  stbtt_GetFontVMetrics(&info, &asc, &desc, &gap);
  for (int s = 0; s < 2; ++s) {
    float scale = stbtt_ScaleForPixelHeight(&info, kPixelSizes[s]);
    ascent_[s] = asc * scale;
    lineHeight_[s] = (asc - desc + gap) * scale;
    for (int c = 0; c < kCount + kLatinCount; ++c) {
      float x = 0, y = 0;
      stbtt_aligned_quad q;
      stbtt_GetPackedQuad(packed[s], int(width_), int(packHeight), c, &x, &y, &q, 0);
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

const Glyph& FontAtlas::glyph(TextSize size, uint32_t cp) const {
  int i;
  if (cp >= uint32_t(kFirst) && cp < uint32_t(kFirst + kCount)) i = int(cp) - kFirst;
  else if (cp >= uint32_t(kLatinFirst) && cp < uint32_t(kLatinFirst + kLatinCount)) i = kCount + int(cp) - kLatinFirst;
  else i = '?' - kFirst;
  return glyphs_[int(size)][size_t(i)];
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
