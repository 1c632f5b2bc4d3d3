// The lessons' data file (data/lessons/lessons.json): sentences, tokens and numbers, checked
// field by field; a broken file is one line naming the file and the field.
#include <fstream>
#include <nlohmann/json.hpp>

#include "engine/paths.h"
#include "lessons/lessons.h"

namespace attnscope::lessons {

namespace {

std::vector<float> flatMatrix(const nlohmann::json& j, uint32_t rows, uint32_t& cols, const std::string& where) {
  if (!j.is_array() || j.size() != rows) throw Error(where + " must be " + std::to_string(rows) + " rows");
  std::vector<float> out;
  for (const auto& r : j) {
    if (!r.is_array() || r.empty()) throw Error(where + " has a row that is not a list of numbers");
    if (cols == 0) cols = uint32_t(r.size());
    if (r.size() != cols) throw Error(where + " has rows of different lengths");
    for (const auto& v : r) {
      if (!v.is_number()) throw Error(where + " holds something that is not a number");
      out.push_back(v.get<float>());
    }
  }
  return out;
}

}  // namespace

std::vector<std::unique_ptr<Lesson>> loadLessons(const std::string& pathArg) {
  std::string path = pathArg.empty() ? (dataDir() / "lessons" / "lessons.json").string() : pathArg;
  std::ifstream in(path);
  if (!in) throw Error("lesson data '" + path + "' cannot be read (set ATTNSCOPE_DATA_DIR?)");
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(in);
    std::vector<std::unique_ptr<Lesson>> out;
    std::vector<SmallHead> examples;
    for (const auto& e : j.at("worked_example")) {
      SmallHead h;
      h.name = e.at("name").get<std::string>();
      h.tokens = e.at("tokens").get<std::vector<std::string>>();
      h.causal = e.at("causal").get<bool>();
      h.n = uint32_t(h.tokens.size());
      std::string where = "lesson data '" + path + "', worked example '" + h.name + "'";
      uint32_t d = 0;
      h.q = flatMatrix(e.at("q"), h.n, d, where + ", q");
      h.k = flatMatrix(e.at("k"), h.n, d, where + ", k");
      h.v = flatMatrix(e.at("v"), h.n, d, where + ", v");
      h.d = d;
      examples.push_back(std::move(h));
    }
    out.push_back(std::make_unique<WorkedExampleLesson>(std::move(examples)));
    const auto& w = j.at("why_sqrt_d");
    out.push_back(std::make_unique<WhySqrtDLesson>(w.at("dims").get<std::vector<uint32_t>>(), w.at("keys").get<uint32_t>(),
                                                   w.at("seed").get<uint64_t>()));
    const auto& t = j.at("temperature");
    auto cands = t.at("candidates").get<std::vector<std::string>>();
    auto logits = t.at("logits").get<std::vector<float>>();
    if (cands.size() != logits.size() || cands.empty())
      throw Error("lesson data '" + path + "': temperature needs one logit per candidate");
    auto temps = t.at("temperatures").get<std::vector<double>>();
    auto caps = t.contains("softcaps") ? t.at("softcaps").get<std::vector<double>>() : std::vector<double>(temps.size(), 0.0);
    if (caps.size() != temps.size())
      throw Error("lesson data '" + path + "': temperature needs one softcaps entry (0 for none) per temperature");
    out.push_back(std::make_unique<TemperatureLesson>(t.at("sentence").get<std::string>(), cands, logits, temps, caps));
    const auto& c = j.at("causal_mask");
    SmallHead ch;
    ch.name = "causal";
    ch.tokens = c.at("tokens").get<std::vector<std::string>>();
    ch.n = uint32_t(ch.tokens.size());
    ch.d = c.at("dim").get<uint32_t>();
    ch.causal = true;
    ch.q = normalMatrix(ch.n, ch.d, c.at("seed").get<uint64_t>());
    ch.k = normalMatrix(ch.n, ch.d, c.at("seed").get<uint64_t>() + 1);
    out.push_back(std::make_unique<CausalMaskLesson>(std::move(ch)));
    const auto& hd = j.at("heads");
    out.push_back(std::make_unique<HeadsLesson>(hd.at("tokens").get<std::vector<std::string>>(),
                                                hd.at("presets").get<std::vector<std::string>>(),
                                                hd.at("focus").get<std::string>(), hd.at("dim").get<uint32_t>(),
                                                hd.at("seed").get<uint32_t>()));
    const auto& pe = j.at("positional_encoding");
    PositionalEncodingLesson::Sizes sz;
    sz.positions = pe.at("positions").get<uint32_t>();
    sz.dModel = pe.at("d_model").get<uint32_t>();
    sz.zoomPositions = pe.at("zoom_positions").get<uint32_t>();
    sz.zoomDims = pe.at("zoom_dims").get<uint32_t>();
    sz.similarityPositions = pe.at("similarity_positions").get<uint32_t>();
    sz.similarityDModel = pe.at("similarity_d_model").get<uint32_t>();
    sz.ropeDim = pe.at("rope_dim").get<uint32_t>();
    sz.ropeBase = pe.at("rope_base").get<double>();
    if (sz.zoomDims > sz.dModel || sz.positions < 1 || sz.dModel % 2 || sz.similarityPositions < 101)
      throw Error("lesson data '" + path + "': positional_encoding sizes do not fit together");
    out.push_back(std::make_unique<PositionalEncodingLesson>(sz));
    const auto& qc = j.at("quadratic_cost");
    out.push_back(std::make_unique<QuadraticCostLesson>(qc.at("tokens").get<std::vector<uint32_t>>(),
                                                        qc.at("dim").get<uint32_t>(),
                                                        qc.at("timed_cells").get<double>()));
    return out;
  } catch (const nlohmann::json::exception& e) {
    throw Error("lesson data '" + path + "' is malformed: " + e.what());
  }
}

}  // namespace attnscope::lessons
