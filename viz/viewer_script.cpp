#include "viz/viewer_script.h"

#include <algorithm>
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
    for (const auto& s : j.at("steps")) {
      ScriptStep st;
      st.frames = s.value("frames", 1);
      auto at = [&](const char* key, int i) { return s.at(key).at(i).get<double>(); };
      if (s.contains("zoom")) {
        st.kind = ScriptStep::Zoom;
        st.a = s.at("zoom").get<double>();
        st.b = at("at", 0);
        st.c = at("at", 1);
      } else if (s.contains("pan")) {
        st.kind = ScriptStep::Pan;
        st.a = at("pan", 0);
        st.b = at("pan", 1);
      } else if (s.contains("box")) {
        st.kind = ScriptStep::Box;
        st.a = at("box", 0);
        st.b = at("box", 1);
        st.c = at("box", 2);
        st.d = at("box", 3);
      } else if (s.contains("lookat")) {
        st.kind = ScriptStep::LookAt;
        st.a = at("lookat", 0);
        st.b = at("lookat", 1);
        st.c = at("lookat", 2);
      } else if (s.contains("panel")) {
        st.kind = ScriptStep::Panel;
        st.a = s.at("panel").get<bool>() ? 1 : 0;
      } else if (s.contains("fit")) {
        st.kind = ScriptStep::Fit;
      } else if (s.contains("click")) {
        st.kind = ScriptStep::Click;
        st.a = at("click", 0);
        st.b = at("click", 1);
      } else if (s.contains("hover")) {
        st.kind = ScriptStep::Hover;
        st.a = at("hover", 0);
        st.b = at("hover", 1);
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
