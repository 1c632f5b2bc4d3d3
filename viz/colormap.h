// The colormaps (data/colormaps.json): 256 sRGB entries each, low to high.
#pragma once
#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace attnscope {

class Colormaps {
 public:
  // Reads dataDir()/colormaps.json; throws Error if it is missing or malformed.
  static const Colormaps& get();

  const std::vector<std::string>& names() const { return names_; }
  // Row index of a colormap; throws Error naming the known colormaps when unknown.
  uint32_t index(const std::string& name) const;
  // RGBA8 texture data, 256 x names().size().
  const std::vector<uint8_t>& texture() const { return rgba_; }
  std::array<uint8_t, 3> color(uint32_t row, uint32_t entry) const;

 private:
  std::vector<std::string> names_;
  std::vector<uint8_t> rgba_;
};

}  // namespace attnscope
