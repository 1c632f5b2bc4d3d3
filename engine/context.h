// The Vulkan instance, the chosen physical device, its logical device and queue.
// Everything above this layer gets its device from a Context; nothing else creates one.
#pragma once
#include <volk.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace attnscope {

class DeviceMemory;
class FencedCommands;

// True when ATTNSCOPE_VALIDATE is set to anything but "0": every front end (the command
// line, the Python package) turns the validation layer on for it.
bool validationRequestedByEnvironment();

struct ContextOptions {
  bool validate = false;       // Khronos validation layer + debug messenger
  std::string device;          // "" = best device; otherwise an index or a name substring
  bool forcePortable = false;  // ignore optional features (subgroup shuffle, 16-bit storage)
  std::vector<std::string> instanceExtensions;  // e.g. what GLFW needs for a window surface
  bool swapchain = false;      // enable VK_KHR_swapchain on the device (the viewer)
  // Another context of this process is alive and loaded the Vulkan functions (volk): this one
  // leaves them as they are (a helper device; its instance may lack the other's extensions).
  bool sharedLoader = false;
};

// What a device can do, read once at start-up. Optional features are used only when
// present, and forcePortable turns them off so tests can run the portable path on purpose.
struct DeviceCaps {
  std::string name;
  VkPhysicalDeviceType type = VK_PHYSICAL_DEVICE_TYPE_OTHER;
  uint32_t apiVersion = 0;
  uint32_t driverVersion = 0;
  std::string driverName;
  std::string driverInfo;
  VkPhysicalDeviceLimits limits{};
  uint32_t subgroupSize = 1;
  bool subgroupShuffle = false;     // compute stage, GL_KHR_shader_subgroup_shuffle
  bool subgroupArithmetic = false;  // compute stage
  bool storage16Bit = false;        // storageBuffer16BitAccess
  bool shaderFloat16 = false;
  bool timestamps = false;
  uint64_t deviceLocalBytes = 0;
};

struct PhysicalDeviceEntry {
  uint32_t index;
  std::string name;
  VkPhysicalDeviceType type;
  uint32_t apiVersion;
};

const char* deviceTypeName(VkPhysicalDeviceType type);

class Context {
 public:
  explicit Context(const ContextOptions& options = {});
  ~Context();  // out of line: DeviceMemory is incomplete here
  Context(const Context&) = delete;
  Context& operator=(const Context&) = delete;

  VkInstance instance() const { return instance_; }
  VkPhysicalDevice physicalDevice() const { return physical_; }
  VkDevice device() const { return device_; }
  VkQueue queue() const { return queue_; }
  uint32_t queueFamily() const { return queueFamily_; }
  const DeviceCaps& caps() const { return caps_; }
  const std::vector<PhysicalDeviceEntry>& allDevices() const { return allDevices_; }
  uint32_t chosenIndex() const { return chosenIndex_; }
  bool validationEnabled() const { return options_.validate; }
  // The options this context was made with (another context on the same device: the tuner's
  // helpers).
  const ContextOptions& options() const { return options_; }

  uint32_t findMemoryType(uint32_t typeBits, VkMemoryPropertyFlags required,
                          VkMemoryPropertyFlags preferred = 0) const;
  VkMemoryPropertyFlags memoryTypeFlags(uint32_t typeIndex) const { return memory_.memoryTypes[typeIndex].propertyFlags; }
  // Where every buffer and image gets its memory, and what is held.
  DeviceMemory& allocator() { return *allocator_; }
  // Device-local memory this process may still use, from VK_EXT_memory_budget where the
  // device offers it, else the device-local heap's size; 0 if unknown.
  uint64_t deviceLocalBudget() const;

  // Records a one-shot command buffer, submits it and waits: for uploads and setup,
  // never on a per-frame path.
  void immediate(const std::function<void(VkCommandBuffer)>& record);

  // Waits until the device is idle; a lost device (or any other failure) is an Error.
  void waitIdle() const;
  // The same for destructors, which must not throw: a failure means the device is lost and
  // there is nothing left to wait for, so destruction goes on (the caller's error, if any,
  // was already reported by the call that found the device lost).
  void waitIdleInDestructor() const noexcept;

  // Validation messages seen since start (errors and warnings). Tests assert it stays 0.
  static uint64_t validationMessageCount();
  static std::string lastValidationMessage();

 private:
  void release();
  void createInstance(bool validate, const std::vector<std::string>& extensions);
  void chooseDevice(const std::string& selector);
  void readCaps(bool forcePortable);
  void createDevice(bool swapchain);

  ContextOptions options_;
  VkInstance instance_ = VK_NULL_HANDLE;
  VkDebugUtilsMessengerEXT messenger_ = VK_NULL_HANDLE;
  VkPhysicalDevice physical_ = VK_NULL_HANDLE;
  VkDevice device_ = VK_NULL_HANDLE;
  VkQueue queue_ = VK_NULL_HANDLE;
  uint32_t queueFamily_ = 0;
  uint32_t chosenIndex_ = 0;
  std::unique_ptr<FencedCommands> immediate_;
  std::unique_ptr<DeviceMemory> allocator_;
  bool memoryBudget_ = false;  // VK_EXT_memory_budget enabled
  DeviceCaps caps_;
  VkPhysicalDeviceMemoryProperties memory_{};
  std::vector<PhysicalDeviceEntry> allDevices_;
  std::vector<VkPhysicalDevice> physicalHandles_;
};

}  // namespace attnscope
