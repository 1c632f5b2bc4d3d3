#include "viz/window.h"

#define GLFW_INCLUDE_VULKAN
#include <GLFW/glfw3.h>

#include <cstdlib>

#include "engine/vk_check.h"

namespace attnscope {

namespace {

std::string lastGlfwError() {
  const char* text = nullptr;
  glfwGetError(&text);
  return text ? text : "unknown error";
}

void initGlfw() {
  static bool ok = [] {
    if (!glfwInit()) {
      const char* display = std::getenv("DISPLAY");
      const char* wayland = std::getenv("WAYLAND_DISPLAY");
      if ((!display || !*display) && (!wayland || !*wayland))
        throw Error("no display to open a window on (DISPLAY is not set): run it on a desktop, or headless as "
                    "'xvfb-run -s \"-screen 0 1920x1080x24\" attnscope view ...', or use 'attnscope render'");
      throw Error("cannot open a window (" + lastGlfwError() +
                  "): check DISPLAY, or use 'attnscope render' for PNGs");
    }
    std::atexit(glfwTerminate);
    return true;
  }();
  (void)ok;
}

}  // namespace

std::vector<std::string> Window::requiredInstanceExtensions() {
  initGlfw();
  uint32_t count = 0;
  const char** names = glfwGetRequiredInstanceExtensions(&count);
  if (!names) throw Error("this window system offers no Vulkan surface (" + lastGlfwError() + ")");
  return std::vector<std::string>(names, names + count);
}

Window::Window(uint32_t width, uint32_t height, const std::string& title) {
  initGlfw();
  glfwWindowHint(GLFW_CLIENT_API, GLFW_NO_API);
  glfwWindowHint(GLFW_SCALE_TO_MONITOR, GLFW_TRUE);
  window_ = glfwCreateWindow(int(width), int(height), title.c_str(), nullptr, nullptr);
  if (!window_) throw Error("cannot create a window: " + lastGlfwError());
  glfwSetWindowUserPointer(window_, this);
  glfwSetScrollCallback(window_, onScroll);
  glfwSetMouseButtonCallback(window_, onButton);
  glfwSetCursorPosCallback(window_, onMove);
  glfwSetKeyCallback(window_, onKey);
}

Window::~Window() {
  if (window_) glfwDestroyWindow(window_);
}

VkSurfaceKHR Window::createSurface(VkInstance instance) {
  VkSurfaceKHR surface = VK_NULL_HANDLE;
  VkResult r = glfwCreateWindowSurface(instance, window_, nullptr, &surface);
  if (r != VK_SUCCESS) throw Error(std::string("cannot create a Vulkan surface for the window: ") + vkResultName(r));
  return surface;
}

void Window::poll() { glfwPollEvents(); }
void Window::waitEvents(double seconds) { glfwWaitEventsTimeout(seconds); }
bool Window::closeRequested() const { return glfwWindowShouldClose(window_); }
void Window::requestClose() { glfwSetWindowShouldClose(window_, GLFW_TRUE); }

std::vector<InputEvent> Window::drainEvents() {
  std::vector<InputEvent> out;
  out.swap(events_);
  return out;
}

void Window::framebufferSize(uint32_t& w, uint32_t& h) const {
  int fw = 0, fh = 0;
  glfwGetFramebufferSize(window_, &fw, &fh);
  w = uint32_t(std::max(fw, 0));
  h = uint32_t(std::max(fh, 0));
}

bool Window::minimised() const {
  uint32_t w, h;
  framebufferSize(w, h);
  return w == 0 || h == 0 || glfwGetWindowAttrib(window_, GLFW_ICONIFIED);
}

void Window::setTitle(const std::string& title) { glfwSetWindowTitle(window_, title.c_str()); }

// Cursor positions come in window coordinates; HiDPI framebuffers are larger.
void Window::pointer(double& x, double& y) const {
  int ww, wh, fw, fh;
  glfwGetWindowSize(window_, &ww, &wh);
  glfwGetFramebufferSize(window_, &fw, &fh);
  glfwGetCursorPos(window_, &x, &y);
  if (ww > 0 && wh > 0) {
    x *= double(fw) / ww;
    y *= double(fh) / wh;
  }
}

void Window::onScroll(GLFWwindow* w, double, double dy) {
  auto* self = static_cast<Window*>(glfwGetWindowUserPointer(w));
  InputEvent e;
  e.type = InputEvent::Scroll;
  self->pointer(e.x, e.y);
  e.scroll = dy;
  self->events_.push_back(e);
}

void Window::onButton(GLFWwindow* w, int button, int action, int mods) {
  auto* self = static_cast<Window*>(glfwGetWindowUserPointer(w));
  InputEvent e;
  e.type = action == GLFW_PRESS ? InputEvent::ButtonDown : InputEvent::ButtonUp;
  self->pointer(e.x, e.y);
  e.button = button;
  e.mods = mods;
  self->events_.push_back(e);
}

void Window::onMove(GLFWwindow* w, double, double) {
  auto* self = static_cast<Window*>(glfwGetWindowUserPointer(w));
  InputEvent e;
  e.type = InputEvent::Move;
  self->pointer(e.x, e.y);
  self->events_.push_back(e);
}

void Window::onKey(GLFWwindow* w, int key, int, int action, int mods) {
  if (action == GLFW_RELEASE) return;
  auto* self = static_cast<Window*>(glfwGetWindowUserPointer(w));
  InputEvent e;
  e.type = InputEvent::Key;
  self->pointer(e.x, e.y);
  e.key = key;
  e.mods = mods;
  self->events_.push_back(e);
}

}  // namespace attnscope
