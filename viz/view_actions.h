// What the viewer can be asked to do from the keyboard, and the one table that binds keys to
// it: scripts name keys from the same table ("Q", "PageUp", "KP_Add", "shift+T"), so every
// key a user can press can be replayed, and no key is handled in two places.
#pragma once
#include <optional>
#include <string>
#include <vector>

namespace attnscope {

enum class ViewAction {
  PanLeft, PanRight, PanUp, PanDown, ZoomIn, ZoomOut, Fit,
  NextHead, PreviousHead, NextLayer, PreviousLayer,
  ToggleLogScale, ToggleAggregation, CycleColorRange, ToggleNormalize, ToggleGrid, TogglePanel,
  TemperatureUp, TemperatureDown, NextMask, WiderWindow, NarrowerWindow,
  Screenshot, Quit,
};

struct KeyBinding {
  const char* name;  // as scripts write it
  int key;           // GLFW key code
  bool shift;        // the binding wants shift held (others match with or without it)
  ViewAction action;
  const char* help;  // for the README and the panel
};

const std::vector<KeyBinding>& keyBindings();
// The action of a key press, if it has one.
std::optional<ViewAction> actionForKey(int key, int mods);
// The action a script's key name stands for; throws Error naming the keys there are.
ViewAction actionForKeyName(const std::string& name);

}  // namespace attnscope
