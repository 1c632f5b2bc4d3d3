// A real font (DejaVu Sans) baked into an atlas with stb_truetype: ASCII, Latin-1 and Latin
// Extended-A (which holds the Ġ and Ċ markers of byte-level BPE vocabularies), Greek, and the
// arrows, sub/superscripts and math operators the lessons write (√ ∞ − ≈ ≤ ᵀ Σ θ), at four
// sizes from labels to slide headings, plus a white patch for solid shapes. Text is UTF-8,
// laid out into textured quads.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace attnscope {

// The .ttf used for every label: $ATTNSCOPE_FONT, else DejaVu Sans.
std::string findFontFile();

// Code points of UTF-8 text; invalid bytes come out as '?'.
std::vector<uint32_t> decodeUtf8(const std::string& text);

enum class TextSize { Small = 0, Large = 1, Heading = 2, Display = 3 };  // 13, 17, 24, 34 px
constexpr int kTextSizes = 4;

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
  bool has(uint32_t codepoint) const;
  const Glyph& glyph(TextSize size, uint32_t codepoint) const;
  float lineHeight(TextSize size) const { return lineHeight_[int(size)]; }
  float ascent(TextSize size) const { return ascent_[int(size)]; }
  float measure(TextSize size, const std::string& text) const;

 private:
  uint32_t width_ = 1024, height_ = 0;
  std::vector<uint8_t> pixels_;
  std::vector<uint32_t> codepoints_;       // sorted; glyphs_[s][i] is codepoints_[i]
  std::vector<Glyph> glyphs_[kTextSizes];
  float lineHeight_[kTextSizes] = {}, ascent_[kTextSizes] = {};
  float whiteU_ = 0, whiteV_ = 0;
};

}  // namespace attnscope
