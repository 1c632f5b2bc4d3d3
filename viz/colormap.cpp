#include "viz/colormap.h"

#include <fstream>
#include <nlohmann/json.hpp>

#include "engine/error.h"
#include "engine/paths.h"

namespace attnscope {

const Colormaps& Colormaps::get() {
  static const Colormaps maps = [] {
    Colormaps m;
    auto path = dataDir() / "colormaps.json";
    std::ifstream in(path);
    if (!in) throw Error("cannot read " + path.string() + ": reinstall attnscope");
    nlohmann::json j;
    try {
      in >> j;
      // A fixed order keeps colormap indices stable; viridis first as the default.
      for (const char* name : {"viridis", "magma", "inferno", "plasma", "cividis", "grayscale"}) {
        const auto& table = j.at("colormaps").at(name);
        if (table.size() != 256) throw Error(std::string("colormap ") + name + " must have 256 entries");
        m.names_.push_back(name);
        for (const auto& c : table) {
          for (int k = 0; k < 3; ++k) m.rgba_.push_back(uint8_t(c.at(k).get<int>()));
          m.rgba_.push_back(255);
        }
      }
    } catch (const nlohmann::json::exception& e) {
      throw Error(path.string() + " is malformed (" + e.what() + "): reinstall attnscope");
    }
    return m;
  }();
  return maps;
}

uint32_t Colormaps::index(const std::string& name) const {
  for (uint32_t i = 0; i < names_.size(); ++i)
    if (names_[i] == name || (name == "gray" && names_[i] == "grayscale") ||
        (name == "greyscale" && names_[i] == "grayscale"))
      return i;
  std::string known;
  for (auto& n : names_) known += (known.empty() ? "" : ", ") + n;
  throw Error("unknown colormap '" + name + "': use one of " + known);
}

std::array<uint8_t, 3> Colormaps::color(uint32_t row, uint32_t entry) const {
  size_t o = (size_t(row) * 256 + entry) * 4;
  return {rgba_[o], rgba_[o + 1], rgba_[o + 2]};
}

}  // namespace attnscope
