#include "viz/imgui_layer.h"

#include <imgui.h>
#include <backends/imgui_impl_glfw.h>
#include <backends/imgui_impl_vulkan.h>

#include <algorithm>

#include "engine/context.h"
#include "engine/vk_check.h"
#include "viz/font.h"

namespace attnscope {

namespace {

void checkImgui(VkResult r) {
  if (r != VK_SUCCESS) throwVulkanError(r, "Dear ImGui Vulkan backend", __FILE__, __LINE__);
}

}  // namespace

ImGuiLayer::ImGuiLayer(Context& ctx, GLFWwindow* window, VkRenderPass renderPass, uint32_t imageCount)
    : ctx_(ctx) {
  VkDescriptorPoolSize size{VK_DESCRIPTOR_TYPE_COMBINED_IMAGE_SAMPLER, 16};
  VkDescriptorPoolCreateInfo pci{VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO};
  pci.flags = VK_DESCRIPTOR_POOL_CREATE_FREE_DESCRIPTOR_SET_BIT;
  pci.maxSets = 16;
  pci.poolSizeCount = 1;
  pci.pPoolSizes = &size;
  VK_CHECK(vkCreateDescriptorPool(ctx.device(), &pci, nullptr, &pool_));

  IMGUI_CHECKVERSION();
  ImGui::CreateContext();
  ImGuiIO& io = ImGui::GetIO();
  io.IniFilename = nullptr;  // no imgui.ini left in the user's folder
  io.Fonts->AddFontFromFileTTF(findFontFile().c_str(), 15.0f);
  ImGui::StyleColorsLight();
  ImGui::GetStyle().Alpha = 0.95f;

  // volk loaded every function; the backend gets them through the same loader.
  VkInstance instance = ctx.instance();
  ImGui_ImplVulkan_LoadFunctions(
      [](const char* name, void* user) { return vkGetInstanceProcAddr(*static_cast<VkInstance*>(user), name); },
      &instance);
  ImGui_ImplGlfw_InitForVulkan(window, true);
  ImGui_ImplVulkan_InitInfo info{};
  info.Instance = ctx.instance();
  info.PhysicalDevice = ctx.physicalDevice();
  info.Device = ctx.device();
  info.QueueFamily = ctx.queueFamily();
  info.Queue = ctx.queue();
  info.DescriptorPool = pool_;
  info.MinImageCount = std::max(2u, imageCount);
  info.ImageCount = std::max(2u, imageCount);
  info.MSAASamples = VK_SAMPLE_COUNT_1_BIT;
  info.CheckVkResultFn = checkImgui;
  if (!ImGui_ImplVulkan_Init(&info, renderPass)) throw Error("Dear ImGui could not start on this device");
  ctx.immediate([](VkCommandBuffer cmd) { ImGui_ImplVulkan_CreateFontsTexture(cmd); });
  ImGui_ImplVulkan_DestroyFontUploadObjects();
}

ImGuiLayer::~ImGuiLayer() {
  ctx_.waitIdleInDestructor();
  ImGui_ImplVulkan_Shutdown();
  ImGui_ImplGlfw_Shutdown();
  ImGui::DestroyContext();
  if (pool_) vkDestroyDescriptorPool(ctx_.device(), pool_, nullptr);
}

bool ImGuiLayer::wantsMouse() const { return ImGui::GetIO().WantCaptureMouse; }
bool ImGuiLayer::wantsKeyboard() const { return ImGui::GetIO().WantCaptureKeyboard; }

void ImGuiLayer::newFrame() {
  ImGui_ImplVulkan_NewFrame();
  ImGui_ImplGlfw_NewFrame();
  ImGui::NewFrame();
}

void ImGuiLayer::record(VkCommandBuffer cmd, bool visible) {
  ImGui::Render();
  if (visible) ImGui_ImplVulkan_RenderDrawData(ImGui::GetDrawData(), cmd);
}


}  // namespace attnscope
