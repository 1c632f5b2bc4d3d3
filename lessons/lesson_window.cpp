#include "lessons/lesson_window.h"

#include <GLFW/glfw3.h>
#include <imgui.h>

#include "compute/gpu_session.h"
#include "compute/kernels.h"
#include "engine/commands.h"
#include "engine/compute_pipeline.h"
#include "engine/error.h"
#include "engine/shader_compiler.h"
#include "viz/figure_renderer.h"
#include "viz/imgui_layer.h"
#include "viz/window_frames.h"
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
    gpu_ = std::make_unique<GpuSession>(co);
    ctx_ = gpu_->ctx.get();
    compiler_ = gpu_->compiler.get();
    kernels_ = gpu_->kernels.get();
    frames_ = std::make_unique<WindowFrames>(*ctx_, window_, true);
    renderer_ = std::make_unique<FigureRenderer>(*ctx_, *compiler_, frames_->swapchain().format(),
                                                 VK_IMAGE_LAYOUT_PRESENT_SRC_KHR);
    arena_ = std::make_unique<DescriptorArena>(*ctx_);
    imgui_ = std::make_unique<ImGuiLayer>(*ctx_, window_.handle(), renderer_->renderPass(), frames_->swapchain().imageCount());
    frames_->attach(renderer_->renderPass());
    lessons_ = loadLessons();  // after the device: its objects are dropped before the device goes
  }

  ~LessonWindow() {
    if (!ctx_) return;
    ctx_->waitIdleInDestructor();
    imgui_.reset();
    frames_.reset();
    renderer_.reset();
  }

  int run(size_t first) {
    std::vector<std::unique_ptr<Lesson>>& lessons = lessons_;
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
      frames_->waitForFrame();
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
        window_.waitEvents(0.1);
        continue;
      }
      uint32_t w, h;
      window_.framebufferSize(w, h);
      if (w != frames_->swapchain().extent().width || h != frames_->swapchain().extent().height) {
        frames_->recreate();
        dirty = true;
      }
      if (dirty) {
        uint32_t sw = frames_->swapchain().extent().width, sh = frames_->swapchain().extent().height;
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
        float fw = float(frames_->swapchain().extent().width);
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
    ctx_->waitIdle();  // the lessons' images outlive no frame that uses them
    return 0;
  }

 private:
  void frame(const Scene& scene) {
    uint32_t index;
    if (!frames_->begin(index)) return;  // recreated: the next frame draws at the new size
    arena_->reset();
    Recording rec{*ctx_, frames_->cmd(), *arena_, nullptr};
    renderer_->recordScene(rec, frames_->framebuffer(index), scene, 0, [&](VkCommandBuffer cmd) { imgui_->record(cmd); });
    frames_->submitAndPresent(index);
  }

  LessonWindowOptions o_;
  Window window_;
  std::unique_ptr<GpuSession> gpu_;
  Context* ctx_ = nullptr;  // the session's parts, named
  ShaderCompiler* compiler_ = nullptr;
  Kernels* kernels_ = nullptr;
  std::unique_ptr<WindowFrames> frames_;
  std::unique_ptr<FigureRenderer> renderer_;
  std::unique_ptr<DescriptorArena> arena_;
  std::unique_ptr<ImGuiLayer> imgui_;
  std::vector<std::unique_ptr<Lesson>> lessons_;  // last: destroyed first
};

}  // namespace

int runLessonWindow(const ContextOptions& device, size_t first, const LessonWindowOptions& options) {
  LessonWindow w(device, options);
  return w.run(first);
}

}  // namespace attnscope::lessons
