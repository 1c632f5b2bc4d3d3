// A GLFW window with a Vulkan surface; input arrives as a queue of events the viewer drains
// once a frame, so scripted sessions can feed the very same events.
#pragma once
#include <volk.h>

#include <string>
#include <vector>

struct GLFWwindow;

namespace attnscope {

struct InputEvent {
  enum Type { Scroll, ButtonDown, ButtonUp, Move, Key } type = Move;
  double x = 0, y = 0;   // pointer position in framebuffer pixels
  double scroll = 0;     // wheel steps, positive = away from the user (zoom in)
  int button = 0;        // 0 left, 1 right, 2 middle
  int key = 0;           // GLFW key code
  int mods = 0;          // GLFW modifier bits
};

class Window {
 public:
  // Throws Error with what to do when there is no display.
  Window(uint32_t width, uint32_t height, const std::string& title);
  ~Window();
  Window(const Window&) = delete;
  Window& operator=(const Window&) = delete;

  // Instance extensions the surface needs.
  static std::vector<std::string> requiredInstanceExtensions();

  VkSurfaceKHR createSurface(VkInstance instance);
  void poll();
  // Sleeps until an event arrives or `seconds` pass (a minimised window draws nothing).
  void waitEvents(double seconds);
  bool closeRequested() const;
  void requestClose();
  std::vector<InputEvent> drainEvents();
  void framebufferSize(uint32_t& w, uint32_t& h) const;
  bool minimised() const;
  void setTitle(const std::string& title);
  GLFWwindow* handle() const { return window_; }

 private:
  static void onScroll(GLFWwindow*, double, double);
  static void onButton(GLFWwindow*, int, int, int);
  static void onMove(GLFWwindow*, double, double);
  static void onKey(GLFWwindow*, int, int, int, int);
  void pointer(double& x, double& y) const;
  GLFWwindow* window_ = nullptr;
  std::vector<InputEvent> events_;
};

}  // namespace attnscope
