// Dear ImGui on a window and a render pass (Debian's 1.86, its functions loaded through
// volk): the viewer's control panel and the lesson window's controls both draw with it.
#pragma once
#include <volk.h>

struct GLFWwindow;

namespace attnscope {

class Context;

class ImGuiLayer {
 public:
  ImGuiLayer(Context& ctx, GLFWwindow* window, VkRenderPass renderPass, uint32_t imageCount);
  ~ImGuiLayer();
  ImGuiLayer(const ImGuiLayer&) = delete;
  ImGuiLayer& operator=(const ImGuiLayer&) = delete;

  void newFrame();
  // Draws this frame's widgets (inside the render pass); nothing when `visible` is false.
  void record(VkCommandBuffer cmd, bool visible = true);
  bool wantsMouse() const;
  bool wantsKeyboard() const;

 private:
  Context& ctx_;
  VkDescriptorPool pool_ = VK_NULL_HANDLE;
};

}  // namespace attnscope
