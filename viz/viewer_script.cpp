#include "viz/viewer_script.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <fstream>

#include "engine/error.h"

namespace attnscope {

double round3(double v) { return std::round(v * 1000.0) / 1000.0; }

ViewerScript viewerScript(const std::string& scriptPath, const std::string& screenshotPath) {
  ViewerScript script;
  if (!scriptPath.empty()) script = loadViewerScript(scriptPath);
  if (!screenshotPath.empty()) {
    script.steps.push_back({ScriptStep::Settle});
    ScriptStep shot{ScriptStep::Screenshot};
    shot.path = screenshotPath;
    script.steps.push_back(shot);
  }
  return script;
}

ViewerScript loadViewerScript(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw Error("cannot read script '" + path + "'");
  nlohmann::json j;
  try {
    in >> j;
  } catch (const nlohmann::json::exception& e) {
    throw Error("script '" + path + "' is not valid JSON: " + e.what());
  }
  ViewerScript script;
  try {
    script.statsPath = j.value("stats", "");
    // Steps whose value is a list of numbers: [x, y], [dx, dy], [x0, y0, x1, y1], ...
    struct NumbersStep {
      const char* key;
      ScriptStep::Kind kind;
      size_t count;
    };
    static const NumbersStep numberSteps[] = {{"pan", ScriptStep::Pan, 2},     {"box", ScriptStep::Box, 4},
                                              {"lookat", ScriptStep::LookAt, 3}, {"click", ScriptStep::Click, 2},
                                              {"hover", ScriptStep::Hover, 2}};
    auto numbers = [&](const nlohmann::json& v, const char* key, size_t count, double* out) {
      if (!v.is_array() || v.size() != count)
        throw Error("script '" + path + "': \"" + key + "\" takes " + std::to_string(count) + " numbers, not " + v.dump());
      for (size_t i = 0; i < count; ++i) out[i] = v.at(i).get<double>();
    };
    for (const auto& s : j.at("steps")) {
      ScriptStep st;
      st.frames = s.value("frames", 1);
      double* abcd[] = {&st.a, &st.b, &st.c, &st.d};
      std::array<double, 4> v{};
      auto known = std::find_if(std::begin(numberSteps), std::end(numberSteps),
                                [&](const NumbersStep& n) { return s.contains(n.key); });
      if (known != std::end(numberSteps)) {
        st.kind = known->kind;
        numbers(s.at(known->key), known->key, known->count, v.data());
        for (size_t i = 0; i < known->count; ++i) *abcd[i] = v[i];
      } else if (s.contains("zoom")) {  // factor per frame about a window pixel
        st.kind = ScriptStep::Zoom;
        st.a = s.at("zoom").get<double>();
        numbers(s.at("at"), "at", 2, v.data());
        st.b = v[0];
        st.c = v[1];
      } else if (s.contains("panel")) {
        st.kind = ScriptStep::Panel;
        st.a = s.at("panel").get<bool>() ? 1 : 0;
      } else if (s.contains("fit")) {
        st.kind = ScriptStep::Fit;
      } else if (s.contains("key")) {
        st.kind = ScriptStep::Key;
        st.action = actionForKeyName(s.at("key").get<std::string>());
      } else if (s.contains("settle")) {
        st.kind = ScriptStep::Settle;
        st.timeout = s.value("timeout_s", 120.0);
        // "settle": "view" waits for the view's tiles only, not for the whole-map sweep.
        st.viewOnly = s.at("settle").is_string() && s.at("settle").get<std::string>() == "view";
      } else if (s.contains("screenshot")) {
        st.kind = ScriptStep::Screenshot;
        st.path = s.at("screenshot").get<std::string>();
      } else if (!(s.is_object() && s.size() == 1 && s.contains("frames"))) {
        // A misspelt step would otherwise pass as frames that do nothing.
        throw Error("script '" + path + "': unknown step " + s.dump() + " (see the README for the step format)");
      }
      script.steps.push_back(st);
    }
  } catch (const nlohmann::json::exception& e) {
    throw Error("script '" + path + "': " + e.what() + " (see the README for the step format)");
  }
  return script;
}

bool ScriptRunner::play(ScriptTarget& t) {
  if (done()) return false;
  const ScriptStep& st = steps_[index_];
  bool moved = false, advance = true;
  switch (st.kind) {
    case ScriptStep::Zoom:
      t.scriptZoom(st.b, st.c, st.a);
      moved = true;
      advance = ++stepFrames_ >= st.frames;
      break;
    case ScriptStep::Pan:
      t.scriptPan(st.a, st.b);
      moved = true;
      advance = ++stepFrames_ >= st.frames;
      break;
    case ScriptStep::Box: t.scriptBox(st.a, st.b, st.c, st.d); break;
    case ScriptStep::LookAt: t.scriptLookAt(st.a, st.b, st.c); break;
    case ScriptStep::Fit: t.scriptFit(); break;
    case ScriptStep::Panel: t.scriptPanel(st.a != 0); break;
    case ScriptStep::Click: t.scriptClick(st.a, st.b); break;
    case ScriptStep::Hover: t.scriptHover(st.a, st.b); break;
    case ScriptStep::Key: t.scriptAction(st.action); break;
    case ScriptStep::Settle: {
      if (!settling_) {
        settling_ = true;
        settleStart_ = Clock::now();
      }
      double waited = std::chrono::duration<double>(Clock::now() - settleStart_).count();
      // The view's own tiles are exact (what the user waits for) ...
      if (viewExact_ < 0 && t.viewExact()) viewExact_ = waited;
      // ... and then all work is done: the whole-map sweep behind the strips and range too.
      advance = t.viewExact() && (st.viewOnly || t.allWorkDone());
      if (advance) {
        toDone_.push_back(round3(waited));
        toExact_.push_back(round3(viewExact_));
        viewExact_ = -1;
        settling_ = false;
      } else if (waited > st.timeout) {
        throw Error("script: the view did not settle within " + std::to_string(st.timeout) + " s");
      }
      break;
    }
    case ScriptStep::Screenshot:
      if (!screenshotAsked_) {
        t.scriptScreenshot(st.path);
        screenshotAsked_ = true;
      }
      advance = t.takeScreenshotDone();
      if (advance) screenshotAsked_ = false;
      break;
    case ScriptStep::Frames: advance = ++stepFrames_ >= st.frames; break;
  }
  if (advance) {
    ++index_;
    stepFrames_ = 0;
  }
  return moved;
}

nlohmann::json FrameStats::summary(const std::vector<double>& v) {
  auto percentile = [&](double p) {
    if (v.empty()) return 0.0;
    std::vector<double> s = v;
    std::sort(s.begin(), s.end());
    size_t i = size_t(std::clamp(p * (s.size() - 1), 0.0, double(s.size() - 1)) + 0.5);
    return s[std::min(i, s.size() - 1)];
  };
  return nlohmann::json{{"p50_ms", round3(percentile(0.5))},
                        {"p95_ms", round3(percentile(0.95))},
                        {"max_ms", round3(v.empty() ? 0 : *std::max_element(v.begin(), v.end()))},
                        {"frames", v.size()}};
}

}  // namespace attnscope
