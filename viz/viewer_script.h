// Scripted sessions of the viewer (tests, benchmarks, screenshots): a JSON list of steps
// played a frame at a time, and the frame-time statistics a run reports. The viewer is
// driven through ScriptTarget, so a script can do exactly what a user can.
#pragma once
#include <chrono>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "viz/view_actions.h"

namespace attnscope {

// One step of a script (README: "The viewer").
struct ScriptStep {
  enum Kind { Frames, Zoom, Pan, Box, LookAt, Fit, Panel, Click, Hover, Key, Settle, Screenshot } kind = Frames;
  double a = 0, b = 0, c = 0, d = 0;
  int frames = 1;
  ViewAction action = ViewAction::Fit;  // Key
  bool viewOnly = false;                // Settle: the view's tiles only, not the whole-map sweep
  double timeout = 120;                 // Settle, seconds
  std::string path;                     // Screenshot
};

struct ViewerScript {
  std::vector<ScriptStep> steps;
  std::string statsPath;  // where the run's statistics go ("" for none)
};

// Throws Error naming the file and the problem.
ViewerScript loadViewerScript(const std::string& path);
// The run's script: the file's steps (none for ""), then, for a screenshot path, settle and
// take the screenshot.
ViewerScript viewerScript(const std::string& scriptPath, const std::string& screenshotPath);

// What a script drives. Coordinates are window pixels, as a user's pointer.
class ScriptTarget {
 public:
  virtual ~ScriptTarget() = default;
  virtual void scriptZoom(double x, double y, double factor) = 0;
  virtual void scriptPan(double dx, double dy) = 0;
  virtual void scriptBox(double x0, double y0, double x1, double y1) = 0;
  virtual void scriptLookAt(double col, double row, double cellsPerPixel) = 0;
  virtual void scriptFit() = 0;
  virtual void scriptPanel(bool visible) = 0;
  virtual void scriptClick(double x, double y) = 0;
  virtual void scriptHover(double x, double y) = 0;
  virtual void scriptAction(ViewAction action) = 0;
  virtual bool viewExact() = 0;    // every tile the view asks for is exact
  virtual bool allWorkDone() = 0;  // and the whole-map sweep too
  virtual void scriptScreenshot(const std::string& path) = 0;
  virtual bool takeScreenshotDone() = 0;  // true once after the requested PNG was written
};

// Plays a script a frame at a time and keeps the seconds each settle step waited.
class ScriptRunner {
 public:
  explicit ScriptRunner(std::vector<ScriptStep> steps) : steps_(std::move(steps)) {}
  bool done() const { return index_ >= steps_.size(); }
  // This frame's part of the current step. Returns true when the camera moved this frame.
  bool play(ScriptTarget& target);
  // Per settle step: seconds until the view was exact, and until all work was done.
  const nlohmann::json& secondsToExact() const { return toExact_; }
  const nlohmann::json& secondsToAllDone() const { return toDone_; }

 private:
  using Clock = std::chrono::steady_clock;
  std::vector<ScriptStep> steps_;
  size_t index_ = 0;
  int stepFrames_ = 0;
  bool settling_ = false, screenshotAsked_ = false;
  Clock::time_point settleStart_{};
  double viewExact_ = -1;
  nlohmann::json toExact_ = nlohmann::json::array(), toDone_ = nlohmann::json::array();
};

// Frame times of a run: all frames (those that only computed too), those while the camera
// moved, and the intervals between frames that were drawn (how often the picture changed).
class FrameStats {
 public:
  void add(double ms, bool moving, bool drawn = true) {
    all_.push_back(ms);
    if (moving) moving_.push_back(ms);
    sinceDrawn_ += ms;
    if (drawn) {
      drawn_.push_back(sinceDrawn_);
      sinceDrawn_ = 0;
    }
  }
  size_t frames() const { return all_.size(); }
  nlohmann::json allFrames() const { return summary(all_); }
  nlohmann::json movingFrames() const { return summary(moving_); }
  nlohmann::json drawnIntervals() const { return summary(drawn_); }

 private:
  static nlohmann::json summary(const std::vector<double>& v);
  std::vector<double> all_, moving_, drawn_;
  double sinceDrawn_ = 0;
};

double round3(double v);

}  // namespace attnscope
