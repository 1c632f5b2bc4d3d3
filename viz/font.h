// A real font (DejaVu Sans) baked into an atlas with stb_truetype: ASCII, Latin-1 and Latin
// Extended-A (which holds the Ġ and Ċ markers of byte-level BPE vocabularies) at two sizes,
// plus a white patch for solid shapes. Text is UTF-8, laid out into textured quads.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace attnscope {

// The .ttf used for every label: $ATTNSCOPE_FONT, else DejaVu Sans.
std::string findFontFile();

// Code points of UTF-8 text; invalid bytes come out as '?'.
std::vector<uint32_t> decodeUtf8(const std::string& text);

enum class TextSize { Small = 0, Large = 1 };

struct Glyph {
  float x0, y0, x1, y1;  // quad relative to the pen position (pixels, y down)
  float u0, v0, u1, v1;
  float advance;
};

class FontAtlas {
 public:
  // Loads the font: $ATTNSCOPE_FONT, else DejaVu Sans from fonts-dejavu-core.
  FontAtlas();
  uint32_t width() const { return width_; }
  uint32_t height() const { return height_; }
  const std::vector<uint8_t>& pixels() const { return pixels_; }  // R8
  float whiteU() const { return whiteU_; }
  float whiteV() const { return whiteV_; }
  // Glyph for a code point; those outside the atlas show as '?'.
  const Glyph& glyph(TextSize size, uint32_t codepoint) const;
  float lineHeight(TextSize size) const { return lineHeight_[int(size)]; }
  float ascent(TextSize size) const { return ascent_[int(size)]; }
  float measure(TextSize size, const std::string& text) const;

 private:
  uint32_t width_ = 512, height_ = 0;
  std::vector<uint8_t> pixels_;
  std::vector<Glyph> glyphs_[2];  // ASCII 32..126, then U+00A0..U+017F
  float lineHeight_[2] = {0, 0}, ascent_[2] = {0, 0};
  float whiteU_ = 0, whiteV_ = 0;
};

}  // namespace attnscope
