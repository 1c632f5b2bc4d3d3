#include "lessons/lesson_window.h"

#include <GLFW/glfw3.h>
#include <imgui.h>

#include "compute/kernels.h"
#include "engine/commands.h"
#include "engine/compute_pipeline.h"
#include "engine/error.h"
#include "engine/shader_compiler.h"
#include "viz/figure_renderer.h"
#include "viz/imgui_layer.h"
#include "viz/swapchain.h"
#include "viz/window.h"

namespace attnscope::lessons {

namespace {

constexpr float kPanelWidth = 300;  // the controls panel at the right

class LessonWindow {
 public:
  LessonWindow(const ContextOptions& device, const LessonWindowOptions& o)
      : o_(o), window_(o.width, o.height, "attnscope lessons") {
    ContextOptions co = device;
    co.instanceExtensions = Window::requiredInstanceExtensions();
    co.swapchain = true;
    ctx_ = std::make_unique<Context>(co);
    surface_ = window_.createSurface(ctx_->instance());
    uint32_t w, h;
    window_.framebufferSize(w, h);
    swapchain_ = std::make_unique<Swapchain>(*ctx_, surface_, std::max(w, 1u), std::max(h, 1u), true);
    compiler_ = std::make_unique<ShaderCompiler>();
    kernels_ = std::make_unique<Kernels>(*ctx_, *compiler_);
    renderer_ = std::make_unique<FigureRenderer>(*ctx_, *compiler_, swapchain_->format(), VK_IMAGE_LAYOUT_PRESENT_SRC_KHR);
    arena_ = std::make_unique<DescriptorArena>(*ctx_);
    imgui_ = std::make_unique<ImGuiLayer>(*ctx_, window_.handle(), renderer_->renderPass(), swapchain_->imageCount());
    createFramebuffers();
    VkCommandPoolCreateInfo pci{VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO};
    pci.flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT;
    pci.queueFamilyIndex = ctx_->queueFamily();
    VK_CHECK(vkCreateCommandPool(ctx_->device(), &pci, nullptr, &pool_));
    VkCommandBufferAllocateInfo ai{VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO};
    ai.commandPool = pool_;
    ai.level = VK_COMMAND_BUFFER_LEVEL_PRIMARY;
    ai.commandBufferCount = 1;
    VK_CHECK(vkAllocateCommandBuffers(ctx_->device(), &ai, &cmd_));
    VkFenceCreateInfo fci{VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
    fci.flags = VK_FENCE_CREATE_SIGNALED_BIT;
    VK_CHECK(vkCreateFence(ctx_->device(), &fci, nullptr, &fence_));
    VkSemaphoreCreateInfo sci{VK_STRUCTURE_TYPE_SEMAPHORE_CREATE_INFO};
    VK_CHECK(vkCreateSemaphore(ctx_->device(), &sci, nullptr, &acquired_));
    createRenderedSemaphores();
  }

  ~LessonWindow() {
    if (!ctx_) return;
    vkDeviceWaitIdle(ctx_->device());
    imgui_.reset();
    destroyFramebuffers();
    for (auto s : rendered_) vkDestroySemaphore(ctx_->device(), s, nullptr);
    if (acquired_) vkDestroySemaphore(ctx_->device(), acquired_, nullptr);
    if (fence_) vkDestroyFence(ctx_->device(), fence_, nullptr);
    if (pool_) vkDestroyCommandPool(ctx_->device(), pool_, nullptr);
    renderer_.reset();
    swapchain_.reset();
    if (surface_) vkDestroySurfaceKHR(ctx_->instance(), surface_, nullptr);
  }

  int run(std::vector<std::unique_ptr<Lesson>>& lessons, size_t first) {
    const bool fromContents = first == kContents;
    size_t lesson = first, step = 0, selected = 0;
    LessonEnv env{*ctx_, *kernels_, renderer_->font()};
    env.reserveRight = kPanelWidth;  // the controls panel sits there
    std::vector<Rect> contentsRows;
    bool dirty = true;
    Scene scene;
    auto open = [&](size_t i) {
      if (i >= lessons.size()) return;
      lesson = i;
      step = 0;
      dirty = true;
    };
    while (!window_.closeRequested()) {
      // The previous frame is done before anything changes: a control may drop images that
      // frame was drawing.
      VK_CHECK(vkWaitForFences(ctx_->device(), 1, &fence_, VK_TRUE, UINT64_MAX));
      window_.poll();
      for (const InputEvent& e : window_.drainEvents()) {
        if (e.type == InputEvent::ButtonDown && e.button == 0 && !imgui_->wantsMouse()) {
          if (lesson == kContents) {
            for (size_t i = 0; i < contentsRows.size(); ++i) {
              const Rect& r = contentsRows[i];
              if (e.x >= r.x && e.x < r.x + r.w && e.y >= r.y && e.y < r.y + r.h) open(i);
            }
          } else if (lessons[lesson]->click(step, float(e.x), float(e.y))) {
            dirty = true;
          }
          continue;
        }
        if (e.type != InputEvent::Key || imgui_->wantsKeyboard()) continue;
        if (lesson == kContents) {
          if (e.key >= GLFW_KEY_1 && e.key <= GLFW_KEY_9) open(size_t(e.key - GLFW_KEY_1));
          else if (e.key == GLFW_KEY_DOWN) selected = std::min(selected + 1, lessons.size() - 1);
          else if (e.key == GLFW_KEY_UP) selected = selected ? selected - 1 : 0;
          else if (e.key == GLFW_KEY_ENTER || e.key == GLFW_KEY_RIGHT || e.key == GLFW_KEY_SPACE) open(selected);
          else if (e.key == GLFW_KEY_ESCAPE || e.key == GLFW_KEY_Q) window_.requestClose();
          dirty = true;
          continue;
        }
        Lesson& l = *lessons[lesson];
        switch (e.key) {
          case GLFW_KEY_RIGHT: case GLFW_KEY_SPACE: case GLFW_KEY_PAGE_DOWN:
            if (step + 1 < l.steps()) ++step;
            break;
          case GLFW_KEY_LEFT: case GLFW_KEY_PAGE_UP: case GLFW_KEY_BACKSPACE:
            if (step > 0) --step;
            break;
          case GLFW_KEY_TAB:
            lesson = (lesson + ((e.mods & GLFW_MOD_SHIFT) ? lessons.size() - 1 : 1)) % lessons.size();
            step = 0;
            break;
          case GLFW_KEY_HOME: step = 0; break;
          case GLFW_KEY_ESCAPE: case GLFW_KEY_Q:
            if (fromContents) {
              selected = lesson;
              lesson = kContents;
            } else {
              window_.requestClose();
            }
            break;
          default: break;
        }
        dirty = true;
      }
      if (window_.minimised()) {
        glfwWaitEventsTimeout(0.1);
        continue;
      }
      uint32_t w, h;
      window_.framebufferSize(w, h);
      if (w != swapchain_->extent().width || h != swapchain_->extent().height) {
        recreate();
        dirty = true;
      }
      if (dirty) {
        uint32_t sw = swapchain_->extent().width, sh = swapchain_->extent().height;
        if (lesson == kContents) {
          window_.setTitle("attnscope lessons");
          scene = drawContents(renderer_->font(), lessons, selected, sw, sh, &contentsRows);
        } else {
          Lesson& l = *lessons[lesson];
          window_.setTitle("attnscope lessons: " + l.name() + " (" + std::to_string(step + 1) + "/" +
                           std::to_string(l.steps()) + ")");
          scene = l.draw(env, step, sw, sh);
        }
        dirty = false;
      }
      // The controls: the keys, and the lesson's own widgets for this step.
      imgui_->newFrame();
      if (lesson != kContents) {
        float fw = float(swapchain_->extent().width);
        ImGui::SetNextWindowPos(ImVec2(fw - 12, 90), ImGuiCond_Always, ImVec2(1, 0));
        ImGui::SetNextWindowSizeConstraints(ImVec2(kPanelWidth - 24, 0), ImVec2(kPanelWidth - 24, 2000));
        ImGui::Begin("lesson", nullptr, ImGuiWindowFlags_AlwaysAutoResize | ImGuiWindowFlags_NoMove);
        // Dear ImGui's font has no arrows: the keys are named.
        ImGui::TextWrapped(fromContents ? "Left/Right: steps. Tab: next lesson. Esc: contents."
                                        : "Left/Right: steps. Tab: next lesson. Esc: quit.");
        if (lessons[lesson]->buildControls(step)) dirty = true;
        ImGui::End();
      }
      frame(scene);
      if (o_.autoplay) {
        // Every step of the lesson once (from the contents page: the contents, then lesson 1).
        if (lesson == kContents) {
          open(0);
        } else {
          if (step + 1 >= lessons[lesson]->steps()) break;
          ++step;
          dirty = true;
        }
      }
    }
    vkDeviceWaitIdle(ctx_->device());  // the lessons' images outlive no frame that uses them
    return 0;
  }

 private:
  void frame(const Scene& scene) {
    uint32_t index;
    if (!swapchain_->acquire(acquired_, index)) {
      recreate();
      return;
    }
    VK_CHECK(vkResetFences(ctx_->device(), 1, &fence_));
    arena_->reset();
    VK_CHECK(vkResetCommandBuffer(cmd_, 0));
    VkCommandBufferBeginInfo bi{VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO};
    bi.flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT;
    VK_CHECK(vkBeginCommandBuffer(cmd_, &bi));
    Recording rec{*ctx_, cmd_, *arena_, nullptr};
    renderer_->recordScene(rec, framebuffers_[index], scene, 0, [&](VkCommandBuffer cmd) { imgui_->record(cmd); });
    VK_CHECK(vkEndCommandBuffer(cmd_));
    VkPipelineStageFlags waitStage = VK_PIPELINE_STAGE_COLOR_ATTACHMENT_OUTPUT_BIT;
    VkSubmitInfo si{VK_STRUCTURE_TYPE_SUBMIT_INFO};
    si.waitSemaphoreCount = 1;
    si.pWaitSemaphores = &acquired_;
    si.pWaitDstStageMask = &waitStage;
    si.commandBufferCount = 1;
    si.pCommandBuffers = &cmd_;
    si.signalSemaphoreCount = 1;
    si.pSignalSemaphores = &rendered_[index];
    VK_CHECK(vkQueueSubmit(ctx_->queue(), 1, &si, fence_));
    if (!swapchain_->present(rendered_[index], index)) recreate();
  }

  void recreate() {
    uint32_t w, h;
    window_.framebufferSize(w, h);
    if (w == 0 || h == 0) return;
    vkDeviceWaitIdle(ctx_->device());
    destroyFramebuffers();
    swapchain_->recreate(w, h);
    createFramebuffers();
    for (auto s : rendered_) vkDestroySemaphore(ctx_->device(), s, nullptr);
    createRenderedSemaphores();
  }

  void createRenderedSemaphores() {
    rendered_.clear();
    VkSemaphoreCreateInfo sci{VK_STRUCTURE_TYPE_SEMAPHORE_CREATE_INFO};
    for (uint32_t i = 0; i < swapchain_->imageCount(); ++i) {
      VkSemaphore s;
      VK_CHECK(vkCreateSemaphore(ctx_->device(), &sci, nullptr, &s));
      rendered_.push_back(s);
    }
  }

  void createFramebuffers() {
    for (uint32_t i = 0; i < swapchain_->imageCount(); ++i) {
      VkImageView view = swapchain_->view(i);
      VkFramebufferCreateInfo fi{VK_STRUCTURE_TYPE_FRAMEBUFFER_CREATE_INFO};
      fi.renderPass = renderer_->renderPass();
      fi.attachmentCount = 1;
      fi.pAttachments = &view;
      fi.width = swapchain_->extent().width;
      fi.height = swapchain_->extent().height;
      fi.layers = 1;
      VkFramebuffer fb;
      VK_CHECK(vkCreateFramebuffer(ctx_->device(), &fi, nullptr, &fb));
      framebuffers_.push_back(fb);
    }
  }

  void destroyFramebuffers() {
    for (auto fb : framebuffers_) vkDestroyFramebuffer(ctx_->device(), fb, nullptr);
    framebuffers_.clear();
  }

  LessonWindowOptions o_;
  Window window_;
  std::unique_ptr<Context> ctx_;
  VkSurfaceKHR surface_ = VK_NULL_HANDLE;
  std::unique_ptr<Swapchain> swapchain_;
  std::unique_ptr<ShaderCompiler> compiler_;
  std::unique_ptr<Kernels> kernels_;
  std::unique_ptr<FigureRenderer> renderer_;
  std::unique_ptr<DescriptorArena> arena_;
  std::unique_ptr<ImGuiLayer> imgui_;
  std::vector<VkFramebuffer> framebuffers_;
  VkCommandPool pool_ = VK_NULL_HANDLE;
  VkCommandBuffer cmd_ = VK_NULL_HANDLE;
  VkFence fence_ = VK_NULL_HANDLE;
  VkSemaphore acquired_ = VK_NULL_HANDLE;
  std::vector<VkSemaphore> rendered_;
};

}  // namespace

int runLessonWindow(const ContextOptions& device, std::vector<std::unique_ptr<Lesson>>& lessons, size_t first,
                    const LessonWindowOptions& options) {
  LessonWindow w(device, options);
  ReleaseLessonsOnExit release{lessons};  // before the window's device goes
  return w.run(lessons, first);
}

}  // namespace attnscope::lessons
