// The viewer's scripts and key table without a window: what a script file says becomes the
// steps it names (or one clear error), steps play against the viewer frame by frame, and
// the keyboard and scripts share one table, so every key a user presses can be replayed.
#include <gtest/gtest.h>

#include <GLFW/glfw3.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <unistd.h>

#include "engine/error.h"
#include "viz/view_actions.h"
#include "viz/viewer_script.h"
#include "tests/test_files.h"

namespace fs = std::filesystem;

namespace attnscope::test {
namespace {

fs::path writeScript(const std::string& text) {
  fs::path p = test::scratchDir("script") / "script.json";
  std::ofstream(p) << text;
  return p;
}

std::string errorOf(const std::string& text) {
  try {
    loadViewerScript(writeScript(text).string());
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(ViewerScript, EveryStepReadsAsWritten) {
  ViewerScript s = loadViewerScript(writeScript(R"({"stats": "out.json", "steps": [
      {"zoom": 1.5, "at": [600, 400], "frames": 7}, {"pan": [-3, 4]}, {"box": [1, 2, 3, 4]},
      {"lookat": [10.5, 20.5, 0.25]}, {"fit": true}, {"panel": true}, {"click": [5, 6]}, {"hover": [7, 8]},
      {"key": "PageDown"}, {"key": "shift+T"}, {"settle": "view", "timeout_s": 9}, {"settle": true},
      {"screenshot": "a.png"}, {"frames": 3}]})").string());
  EXPECT_EQ(s.statsPath, "out.json");
  ASSERT_EQ(s.steps.size(), 14u);
  const auto& st = s.steps;
  EXPECT_EQ(st[0].kind, ScriptStep::Zoom);
  EXPECT_EQ(st[0].a, 1.5);
  EXPECT_EQ(st[0].b, 600);
  EXPECT_EQ(st[0].c, 400);
  EXPECT_EQ(st[0].frames, 7);
  EXPECT_EQ(st[1].kind, ScriptStep::Pan);
  EXPECT_EQ(st[1].a, -3);
  EXPECT_EQ(st[1].b, 4);
  EXPECT_EQ(st[2].kind, ScriptStep::Box);
  EXPECT_EQ(st[2].d, 4);
  EXPECT_EQ(st[3].kind, ScriptStep::LookAt);
  EXPECT_EQ(st[3].c, 0.25);
  EXPECT_EQ(st[4].kind, ScriptStep::Fit);
  EXPECT_EQ(st[5].kind, ScriptStep::Panel);
  EXPECT_EQ(st[5].a, 1);
  EXPECT_EQ(st[6].kind, ScriptStep::Click);
  EXPECT_EQ(st[7].kind, ScriptStep::Hover);
  EXPECT_EQ(st[7].b, 8);
  EXPECT_EQ(st[8].action, ViewAction::NextLayer);
  EXPECT_EQ(st[9].action, ViewAction::TemperatureDown);
  EXPECT_TRUE(st[10].viewOnly);
  EXPECT_EQ(st[10].timeout, 9);
  EXPECT_FALSE(st[11].viewOnly);
  EXPECT_EQ(st[12].path, "a.png");
  EXPECT_EQ(st[13].kind, ScriptStep::Frames);
  EXPECT_EQ(st[13].frames, 3);
}

TEST(ViewerScript, MistakesAreOneClearError) {
  EXPECT_NE(errorOf(R"({"steps": [{"zom": 2, "at": [1, 2]}]})").find("unknown step {\"at\""), std::string::npos);
  EXPECT_NE(errorOf(R"({"steps": [{"box": [1, 2, 3]}]})").find("\"box\" takes 4 numbers, not [1,2,3]"), std::string::npos);
  EXPECT_NE(errorOf(R"({"steps": [{"key": "F13"}]})").find("unknown key 'F13': the keys are Left, Right"), std::string::npos);
  EXPECT_NE(errorOf(R"({"steps": [{"pan": [1, "x"]}]})").find("see the README"), std::string::npos);
  EXPECT_NE(errorOf(R"({"steps": [)").find("is not valid JSON"), std::string::npos);
  EXPECT_NE(errorOf(R"({"stepz": []})").find("see the README"), std::string::npos);
}

TEST(ViewActions, KeyboardAndScriptsShareOneTable) {
  std::set<std::string> names;
  std::set<ViewAction> actions;
  for (const KeyBinding& b : keyBindings()) {
    EXPECT_TRUE(names.insert(b.name).second) << "two bindings named " << b.name;
    actions.insert(b.action);
    // A key pressed with the modifiers its binding wants does what the script's name does.
    std::optional<ViewAction> pressed = actionForKey(b.key, b.shift ? GLFW_MOD_SHIFT : 0);
    ASSERT_TRUE(pressed.has_value()) << b.name;
    EXPECT_EQ(*pressed, b.action) << b.name;
    EXPECT_EQ(actionForKeyName(b.name), b.action) << b.name;
  }
  EXPECT_EQ(actions.size(), size_t(ViewAction::Quit) + 1) << "every action has a key";
  EXPECT_EQ(actionForKey(GLFW_KEY_T, 0), ViewAction::TemperatureUp);
  EXPECT_EQ(actionForKey(GLFW_KEY_Q, 0), ViewAction::Quit);
  EXPECT_EQ(actionForKey(GLFW_KEY_PAGE_UP, 0), ViewAction::PreviousLayer);
  EXPECT_EQ(actionForKey(GLFW_KEY_KP_ADD, 0), ViewAction::ZoomIn);
  EXPECT_FALSE(actionForKey(GLFW_KEY_F12, 0).has_value());
}

// Records what a script asks of the viewer; the view becomes exact at frame `exactAt` and
// all work is done at frame `doneAt`.
struct RecordingTarget : ScriptTarget {
  std::vector<std::string> calls;
  int frame = 0, exactAt = 0, doneAt = 0;
  void scriptZoom(double x, double y, double f) override { calls.push_back("zoom " + std::to_string(int(x)) + " " + std::to_string(int(y)) + " " + std::to_string(f)); }
  void scriptPan(double, double) override { calls.push_back("pan"); }
  void scriptBox(double, double, double, double) override { calls.push_back("box"); }
  void scriptLookAt(double, double, double) override { calls.push_back("lookat"); }
  void scriptFit() override { calls.push_back("fit"); }
  void scriptPanel(bool) override { calls.push_back("panel"); }
  void scriptClick(double, double) override { calls.push_back("click"); }
  void scriptHover(double, double) override { calls.push_back("hover"); }
  void scriptAction(ViewAction) override { calls.push_back("key"); }
  bool viewExact() override { return frame >= exactAt; }
  bool allWorkDone() override { return frame >= doneAt; }
  void scriptScreenshot(const std::string& path) override { calls.push_back("screenshot " + path); }
  bool takeScreenshotDone() override { return true; }
};

TEST(ViewerScript, StepsPlayFrameByFrame) {
  ViewerScript s = loadViewerScript(writeScript(R"({"steps": [{"zoom": 2, "at": [3, 4], "frames": 3},
      {"settle": true}, {"key": "G"}, {"frames": 2}, {"screenshot": "x.png"}]})").string());
  ScriptRunner runner(std::move(s.steps));
  RecordingTarget t;
  t.exactAt = 5;
  t.doneAt = 7;
  int moving = 0;
  for (; !runner.done() && t.frame < 100; ++t.frame) moving += runner.play(t);
  ASSERT_TRUE(runner.done());
  // 3 zoom frames (the camera moves: frames 0-2), settle until exact and done (3-7), the key
  // (8), 2 idle frames (9-10), the screenshot (11).
  EXPECT_EQ(moving, 3);
  std::vector<std::string> want = {"zoom 3 4 2.000000", "zoom 3 4 2.000000", "zoom 3 4 2.000000", "key",
                                   "screenshot x.png"};
  EXPECT_EQ(t.calls, want);
  ASSERT_EQ(runner.secondsToExact().size(), 1u);
  ASSERT_EQ(runner.secondsToAllDone().size(), 1u);
  EXPECT_GE(runner.secondsToAllDone()[0].get<double>(), runner.secondsToExact()[0].get<double>());
  EXPECT_EQ(t.frame, 12);
}

}  // namespace
}  // namespace attnscope::test
