#include "viz/view_actions.h"

#include <GLFW/glfw3.h>

#include "engine/error.h"

namespace attnscope {

const std::vector<KeyBinding>& keyBindings() {
  // Shifted bindings come before their plain key, so that shift+T finds TemperatureDown.
  static const std::vector<KeyBinding> table = {
      {"Left", GLFW_KEY_LEFT, false, ViewAction::PanLeft, "pan"},
      {"Right", GLFW_KEY_RIGHT, false, ViewAction::PanRight, "pan"},
      {"Up", GLFW_KEY_UP, false, ViewAction::PanUp, "pan"},
      {"Down", GLFW_KEY_DOWN, false, ViewAction::PanDown, "pan"},
      {"+", GLFW_KEY_EQUAL, false, ViewAction::ZoomIn, "zoom in"},
      {"KP_Add", GLFW_KEY_KP_ADD, false, ViewAction::ZoomIn, "zoom in"},
      {"-", GLFW_KEY_MINUS, false, ViewAction::ZoomOut, "zoom out"},
      {"KP_Subtract", GLFW_KEY_KP_SUBTRACT, false, ViewAction::ZoomOut, "zoom out"},
      {"R", GLFW_KEY_R, false, ViewAction::Fit, "the whole map"},
      {"]", GLFW_KEY_RIGHT_BRACKET, false, ViewAction::NextHead, "next head"},
      {"[", GLFW_KEY_LEFT_BRACKET, false, ViewAction::PreviousHead, "previous head"},
      {".", GLFW_KEY_PERIOD, false, ViewAction::NextLayer, "next layer"},
      {"PageDown", GLFW_KEY_PAGE_DOWN, false, ViewAction::NextLayer, "next layer"},
      {",", GLFW_KEY_COMMA, false, ViewAction::PreviousLayer, "previous layer"},
      {"PageUp", GLFW_KEY_PAGE_UP, false, ViewAction::PreviousLayer, "previous layer"},
      {"L", GLFW_KEY_L, false, ViewAction::ToggleLogScale, "lin / log"},
      {"M", GLFW_KEY_M, false, ViewAction::ToggleAggregation, "max / mean per pixel"},
      {"V", GLFW_KEY_V, false, ViewAction::CycleColorRange, "colour range: whole map, this view, fixed"},
      {"N", GLFW_KEY_N, false, ViewAction::ToggleNormalize, "observed / expected by distance"},
      {"G", GLFW_KEY_G, false, ViewAction::ToggleGrid, "every head, linked"},
      {"H", GLFW_KEY_H, false, ViewAction::TogglePanel, "the control panel"},
      {"shift+T", GLFW_KEY_T, true, ViewAction::TemperatureDown, "temperature down"},
      {"T", GLFW_KEY_T, false, ViewAction::TemperatureUp, "temperature up"},
      {"C", GLFW_KEY_C, false, ViewAction::NextMask, "next mask"},
      {"shift+W", GLFW_KEY_W, true, ViewAction::NarrowerWindow, "narrower window"},
      {"W", GLFW_KEY_W, false, ViewAction::WiderWindow, "wider window"},
      {"S", GLFW_KEY_S, false, ViewAction::Screenshot, "screenshot"},
      {"Escape", GLFW_KEY_ESCAPE, false, ViewAction::Quit, "quit"},
      {"Q", GLFW_KEY_Q, false, ViewAction::Quit, "quit"},
  };
  return table;
}

std::optional<ViewAction> actionForKey(int key, int mods) {
  bool shift = mods & GLFW_MOD_SHIFT;
  for (const KeyBinding& b : keyBindings())
    if (b.key == key && (!b.shift || shift)) return b.action;
  return std::nullopt;
}

ViewAction actionForKeyName(const std::string& name) {
  std::string names;
  for (const KeyBinding& b : keyBindings()) {
    if (name == b.name) return b.action;
    names += std::string(names.empty() ? "" : ", ") + b.name;
  }
  throw Error("script: unknown key '" + name + "': the keys are " + names);
}

}  // namespace attnscope
