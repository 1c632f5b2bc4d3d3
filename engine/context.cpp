#include "engine/context.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>

#include "engine/device_memory.h"
#include "engine/fenced_commands.h"
#include "engine/vk_check.h"

namespace attnscope {

bool validationRequestedByEnvironment() {
  const char* env = std::getenv("ATTNSCOPE_VALIDATE");
  return env && *env && std::string(env) != "0";
}


namespace {

std::atomic<uint64_t> gValidationMessages{0};
std::mutex gLastMessageMutex;
std::string gLastMessage;

VKAPI_ATTR VkBool32 VKAPI_CALL debugCallback(VkDebugUtilsMessageSeverityFlagBitsEXT severity,
                                             VkDebugUtilsMessageTypeFlagsEXT,
                                             const VkDebugUtilsMessengerCallbackDataEXT* data,
                                             void*) {
  if (severity < VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT) return VK_FALSE;
  ++gValidationMessages;
  const char* text = data && data->pMessage ? data->pMessage : "(no message)";
  std::fprintf(stderr, "attnscope: validation: %s\n", text);
  std::lock_guard<std::mutex> lock(gLastMessageMutex);
  gLastMessage = text;
  return VK_FALSE;
}

int typeRank(VkPhysicalDeviceType t) {
  switch (t) {
    case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU: return 0;
    case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU: return 1;
    case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU: return 2;
    case VK_PHYSICAL_DEVICE_TYPE_CPU: return 3;
    default: return 4;
  }
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

bool hasLayer(const char* name) {
  uint32_t count = 0;
  VK_CHECK(vkEnumerateInstanceLayerProperties(&count, nullptr));
  std::vector<VkLayerProperties> layers(count);
  VkResult r = vkEnumerateInstanceLayerProperties(&count, layers.data());
  if (r != VK_INCOMPLETE) VK_CHECK_RESULT(r, "vkEnumerateInstanceLayerProperties");  // a layer appearing in between only shortens the list
  for (auto& l : layers)
    if (std::strcmp(l.layerName, name) == 0) return true;
  return false;
}

bool hasInstanceExtension(const char* name) {
  uint32_t count = 0;
  VK_CHECK(vkEnumerateInstanceExtensionProperties(nullptr, &count, nullptr));
  std::vector<VkExtensionProperties> exts(count);
  VkResult r = vkEnumerateInstanceExtensionProperties(nullptr, &count, exts.data());
  if (r != VK_INCOMPLETE) VK_CHECK_RESULT(r, "vkEnumerateInstanceExtensionProperties");
  for (auto& e : exts)
    if (std::strcmp(e.extensionName, name) == 0) return true;
  return false;
}

}  // namespace

const char* deviceTypeName(VkPhysicalDeviceType type) {
  switch (type) {
    case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU: return "discrete GPU";
    case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU: return "integrated GPU";
    case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU: return "virtual GPU";
    case VK_PHYSICAL_DEVICE_TYPE_CPU: return "CPU";
    default: return "other";
  }
}

uint64_t Context::validationMessageCount() { return gValidationMessages.load(); }

std::string Context::lastValidationMessage() {
  std::lock_guard<std::mutex> lock(gLastMessageMutex);
  return gLastMessage;
}

Context::Context(const ContextOptions& options) : options_(options) {
  if (volkInitialize() != VK_SUCCESS)
    throw Error(
        "no Vulkan loader found (libvulkan.so.1): install libvulkan1 and a driver, e.g. "
        "'apt-get install libvulkan1 mesa-vulkan-drivers' for the CPU device lavapipe");
  try {
    createInstance(options.validate, options.instanceExtensions);
    chooseDevice(options.device);
    readCaps(options.forcePortable);
    createDevice(options.swapchain);
  } catch (...) {
    release();  // members are destroyed by the unwinding; only the handles need freeing
    throw;
  }
}

Context::~Context() { release(); }

void Context::waitIdle() const { VK_CHECK(vkDeviceWaitIdle(device_)); }

void Context::waitIdleInDestructor() const noexcept {
  if (device_ && vkDeviceWaitIdle(device_) != VK_SUCCESS) {
    // Nothing to do: see the header. Handles are destroyed next either way.
  }
}

void Context::release() {
  if (device_) {
    waitIdleInDestructor();
    allocator_.reset();  // every buffer and image is gone by now (owners die before their context)
    immediate_.reset();
    vkDestroyDevice(device_, nullptr);
    device_ = VK_NULL_HANDLE;
  }
  if (messenger_) {
    vkDestroyDebugUtilsMessengerEXT(instance_, messenger_, nullptr);
    messenger_ = VK_NULL_HANDLE;
  }
  if (instance_) {
    vkDestroyInstance(instance_, nullptr);
    instance_ = VK_NULL_HANDLE;
  }
}

void Context::createInstance(bool validate, const std::vector<std::string>& wanted) {
  uint32_t loaderVersion = volkGetInstanceVersion();
  if (loaderVersion < VK_API_VERSION_1_2)
    throw Error("the Vulkan loader supports only Vulkan " +
                std::to_string(VK_API_VERSION_MAJOR(loaderVersion)) + "." +
                std::to_string(VK_API_VERSION_MINOR(loaderVersion)) +
                "; attnscope needs 1.2: update libvulkan1");

  VkApplicationInfo app{VK_STRUCTURE_TYPE_APPLICATION_INFO};
  app.pApplicationName = "attnscope";
  app.applicationVersion = VK_MAKE_API_VERSION(0, 0, 1, 0);
  app.pEngineName = "attnscope";
  app.apiVersion = VK_API_VERSION_1_2;

  std::vector<const char*> layers, extensions;
  if (validate) {
    if (!hasLayer("VK_LAYER_KHRONOS_validation"))
      throw Error(
          "validation was asked for but VK_LAYER_KHRONOS_validation is not installed: "
          "'apt-get install vulkan-validationlayers'");
    layers.push_back("VK_LAYER_KHRONOS_validation");
    if (!hasInstanceExtension(VK_EXT_DEBUG_UTILS_EXTENSION_NAME))
      throw Error("validation needs VK_EXT_debug_utils, which this Vulkan loader lacks");
    extensions.push_back(VK_EXT_DEBUG_UTILS_EXTENSION_NAME);
  }
  for (const std::string& e : wanted) {
    if (!hasInstanceExtension(e.c_str()))
      throw Error("the Vulkan loader lacks instance extension " + e + ", which the window needs");
    extensions.push_back(e.c_str());
  }

  VkInstanceCreateInfo ci{VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO};
  ci.pApplicationInfo = &app;
  ci.enabledLayerCount = uint32_t(layers.size());
  ci.ppEnabledLayerNames = layers.data();
  ci.enabledExtensionCount = uint32_t(extensions.size());
  ci.ppEnabledExtensionNames = extensions.data();

  VkDebugUtilsMessengerCreateInfoEXT dm{VK_STRUCTURE_TYPE_DEBUG_UTILS_MESSENGER_CREATE_INFO_EXT};
  dm.messageSeverity =
      VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT | VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT;
  // Performance advice (e.g. "GENERAL layout is slower for copies") is not a correctness
  // message: the storage image lives in GENERAL on purpose, read by compute, copies and
  // fragment shaders alike.
  dm.messageType =
      VK_DEBUG_UTILS_MESSAGE_TYPE_GENERAL_BIT_EXT | VK_DEBUG_UTILS_MESSAGE_TYPE_VALIDATION_BIT_EXT;
  dm.pfnUserCallback = debugCallback;
  // Synchronization validation too: a missing barrier is as much a bug as a wrong argument,
  // and tests run with validation on, so they would see it.
  VkValidationFeatureEnableEXT enables[] = {VK_VALIDATION_FEATURE_ENABLE_SYNCHRONIZATION_VALIDATION_EXT};
  VkValidationFeaturesEXT features{VK_STRUCTURE_TYPE_VALIDATION_FEATURES_EXT};
  features.enabledValidationFeatureCount = 1;
  features.pEnabledValidationFeatures = enables;
  features.pNext = &dm;
  if (validate) ci.pNext = &features;  // dm also catches messages from vkCreateInstance itself

  VkResult r = injectedFault("vkCreateInstance");  // checked by hand below, so injected by hand
  if (r == VK_SUCCESS) r = vkCreateInstance(&ci, nullptr, &instance_);
  // Loaded before anything can throw: release() destroys the instance through volk. Every
  // function, device-level ones too, comes from the instance: the loader's entry points,
  // which dispatch by handle, so they serve every device of the process alike (a helper
  // device beside this one: see sharedLoader). Loading per device instead would point the
  // process's functions at the last device made, whose extensions may lack this one's.
  if (r == VK_SUCCESS && !options_.sharedLoader) volkLoadInstance(instance_);
  if (r == VK_ERROR_INCOMPATIBLE_DRIVER)
    throw Error(
        "no Vulkan driver found: install one, e.g. 'apt-get install mesa-vulkan-drivers' for "
        "the CPU device lavapipe, or your GPU vendor's Vulkan driver");
  VK_CHECK_RESULT(r, "vkCreateInstance");
  if (validate) VK_CHECK(vkCreateDebugUtilsMessengerEXT(instance_, &dm, nullptr, &messenger_));
}

void Context::chooseDevice(const std::string& selector) {
  uint32_t count = 0;
  VK_CHECK(vkEnumeratePhysicalDevices(instance_, &count, nullptr));
  if (count == 0)
    throw Error(
        "no Vulkan device found: install a driver, e.g. 'apt-get install mesa-vulkan-drivers' "
        "for the CPU device lavapipe");
  physicalHandles_.resize(count);
  VK_CHECK(vkEnumeratePhysicalDevices(instance_, &count, physicalHandles_.data()));
  for (uint32_t i = 0; i < count; ++i) {
    VkPhysicalDeviceProperties p;
    vkGetPhysicalDeviceProperties(physicalHandles_[i], &p);
    allDevices_.push_back({i, p.deviceName, p.deviceType, p.apiVersion});
  }

  auto usable = [&](uint32_t i) { return allDevices_[i].apiVersion >= VK_API_VERSION_1_2; };
  auto listing = [&] {
    std::string s;
    for (auto& d : allDevices_)
      s += (s.empty() ? "" : ", ") + std::to_string(d.index) + ": " + d.name;
    return s;
  };

  int chosen = -1;
  if (!selector.empty()) {
    bool numeric = std::all_of(selector.begin(), selector.end(), ::isdigit);
    if (numeric) {
      unsigned long idx = std::stoul(selector);
      if (idx < count) chosen = int(idx);
    } else {
      for (auto& d : allDevices_)
        if (lower(d.name).find(lower(selector)) != std::string::npos) {
          chosen = int(d.index);
          break;
        }
    }
    if (chosen < 0)
      throw Error("unknown device '" + selector + "': the devices are " + listing() +
                  " (see 'attnscope info')");
    if (!usable(uint32_t(chosen)))
      throw Error("device '" + allDevices_[chosen].name +
                  "' supports only Vulkan " +
                  std::to_string(VK_API_VERSION_MAJOR(allDevices_[chosen].apiVersion)) + "." +
                  std::to_string(VK_API_VERSION_MINOR(allDevices_[chosen].apiVersion)) +
                  "; attnscope needs 1.2");
  } else {
    for (auto& d : allDevices_) {
      if (!usable(d.index)) continue;
      if (chosen < 0 || typeRank(d.type) < typeRank(allDevices_[chosen].type)) chosen = int(d.index);
    }
    if (chosen < 0)
      throw Error("no Vulkan 1.2 device found among " + listing() +
                  ": update the driver (mesa-vulkan-drivers for lavapipe)");
  }
  chosenIndex_ = uint32_t(chosen);
  physical_ = physicalHandles_[chosen];
}

void Context::readCaps(bool forcePortable) {
  VkPhysicalDeviceSubgroupProperties subgroup{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_PROPERTIES};
  VkPhysicalDeviceDriverProperties driver{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_DRIVER_PROPERTIES};
  subgroup.pNext = &driver;
  VkPhysicalDeviceProperties2 props{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2};
  props.pNext = &subgroup;
  vkGetPhysicalDeviceProperties2(physical_, &props);

  VkPhysicalDeviceVulkan11Features f11{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_1_FEATURES};
  VkPhysicalDeviceVulkan12Features f12{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES};
  f11.pNext = &f12;
  VkPhysicalDeviceFeatures2 feats{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2};
  feats.pNext = &f11;
  vkGetPhysicalDeviceFeatures2(physical_, &feats);

  caps_.name = props.properties.deviceName;
  caps_.type = props.properties.deviceType;
  caps_.apiVersion = props.properties.apiVersion;
  caps_.driverVersion = props.properties.driverVersion;
  caps_.driverName = driver.driverName;
  caps_.driverInfo = driver.driverInfo;
  caps_.limits = props.properties.limits;
  caps_.subgroupSize = subgroup.subgroupSize;
  bool computeSubgroups = subgroup.supportedStages & VK_SHADER_STAGE_COMPUTE_BIT;
  caps_.subgroupShuffle = !forcePortable && computeSubgroups &&
                          (subgroup.supportedOperations & VK_SUBGROUP_FEATURE_SHUFFLE_BIT);
  caps_.subgroupArithmetic = !forcePortable && computeSubgroups &&
                             (subgroup.supportedOperations & VK_SUBGROUP_FEATURE_ARITHMETIC_BIT);
  caps_.storage16Bit = !forcePortable && f11.storageBuffer16BitAccess;
  caps_.shaderFloat16 = !forcePortable && f12.shaderFloat16;

  vkGetPhysicalDeviceMemoryProperties(physical_, &memory_);
  for (uint32_t h = 0; h < memory_.memoryHeapCount; ++h)
    if (memory_.memoryHeaps[h].flags & VK_MEMORY_HEAP_DEVICE_LOCAL_BIT)
      caps_.deviceLocalBytes = std::max<uint64_t>(caps_.deviceLocalBytes, memory_.memoryHeaps[h].size);
}

void Context::createDevice(bool swapchain) {
  uint32_t count = 0;
  vkGetPhysicalDeviceQueueFamilyProperties(physical_, &count, nullptr);
  std::vector<VkQueueFamilyProperties> families(count);
  vkGetPhysicalDeviceQueueFamilyProperties(physical_, &count, families.data());
  // One queue that does graphics and compute: the render pass samples what compute wrote,
  // and a single queue keeps the ordering explicit (barriers, no ownership transfers).
  int family = -1;
  for (uint32_t i = 0; i < count; ++i) {
    VkQueueFlags need = VK_QUEUE_GRAPHICS_BIT | VK_QUEUE_COMPUTE_BIT;
    if ((families[i].queueFlags & need) == need) {
      family = int(i);
      break;
    }
  }
  if (family < 0)
    throw Error("device '" + caps_.name + "' has no queue that does both graphics and compute");
  queueFamily_ = uint32_t(family);
  caps_.timestamps = families[family].timestampValidBits > 0 && caps_.limits.timestampPeriod > 0;

  float priority = 1.0f;
  VkDeviceQueueCreateInfo qci{VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO};
  qci.queueFamilyIndex = queueFamily_;
  qci.queueCount = 1;
  qci.pQueuePriorities = &priority;

  VkPhysicalDeviceVulkan11Features f11{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_1_FEATURES};
  f11.storageBuffer16BitAccess = caps_.storage16Bit;
  VkPhysicalDeviceVulkan12Features f12{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES};
  f12.shaderFloat16 = caps_.shaderFloat16;
  f11.pNext = &f12;
  VkPhysicalDeviceFeatures2 feats{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2};
  feats.pNext = &f11;

  std::vector<const char*> deviceExtensions;
  if (swapchain) deviceExtensions.push_back(VK_KHR_SWAPCHAIN_EXTENSION_NAME);
  {
    uint32_t n = 0;
    VK_CHECK(vkEnumerateDeviceExtensionProperties(physical_, nullptr, &n, nullptr));
    std::vector<VkExtensionProperties> exts(n);
    VkResult er = vkEnumerateDeviceExtensionProperties(physical_, nullptr, &n, exts.data());
    if (er != VK_INCOMPLETE) VK_CHECK_RESULT(er, "vkEnumerateDeviceExtensionProperties");
    for (const auto& e : exts)
      if (std::strcmp(e.extensionName, VK_EXT_MEMORY_BUDGET_EXTENSION_NAME) == 0) memoryBudget_ = true;
    if (memoryBudget_) deviceExtensions.push_back(VK_EXT_MEMORY_BUDGET_EXTENSION_NAME);
  }
  VkDeviceCreateInfo dci{VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO};
  dci.pNext = &feats;
  dci.enabledExtensionCount = uint32_t(deviceExtensions.size());
  dci.ppEnabledExtensionNames = deviceExtensions.data();
  dci.queueCreateInfoCount = 1;
  dci.pQueueCreateInfos = &qci;
  VkResult r = injectedFault("vkCreateDevice");  // checked by hand below, so injected by hand
  if (r == VK_SUCCESS) r = vkCreateDevice(physical_, &dci, nullptr, &device_);
  if (r == VK_ERROR_EXTENSION_NOT_PRESENT)
    throw Error("device '" + caps_.name + "' cannot present to windows (no VK_KHR_swapchain): use 'attnscope render' for PNGs");
  VK_CHECK_RESULT(r, "vkCreateDevice");
  vkGetDeviceQueue(device_, queueFamily_, 0, &queue_);

  immediate_ = std::make_unique<FencedCommands>(device_, queueFamily_);
  allocator_ = std::make_unique<DeviceMemory>(device_, memory_);
}

uint64_t Context::deviceLocalBudget() const {
  VkPhysicalDeviceMemoryBudgetPropertiesEXT budget{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MEMORY_BUDGET_PROPERTIES_EXT};
  VkPhysicalDeviceMemoryProperties2 props{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MEMORY_PROPERTIES_2};
  if (memoryBudget_) props.pNext = &budget;
  vkGetPhysicalDeviceMemoryProperties2(physical_, &props);
  uint64_t best = 0;
  for (uint32_t h = 0; h < props.memoryProperties.memoryHeapCount; ++h) {
    if (!(props.memoryProperties.memoryHeaps[h].flags & VK_MEMORY_HEAP_DEVICE_LOCAL_BIT)) continue;
    uint64_t left = props.memoryProperties.memoryHeaps[h].size;
    if (memoryBudget_) left = budget.heapBudget[h] > budget.heapUsage[h] ? budget.heapBudget[h] - budget.heapUsage[h] : 0;
    best = std::max(best, left);
  }
  return best;
}

uint32_t Context::findMemoryType(uint32_t typeBits, VkMemoryPropertyFlags required,
                                 VkMemoryPropertyFlags preferred) const {
  int fallback = -1;
  for (uint32_t i = 0; i < memory_.memoryTypeCount; ++i) {
    if (!(typeBits & (1u << i))) continue;
    VkMemoryPropertyFlags f = memory_.memoryTypes[i].propertyFlags;
    if ((f & required) != required) continue;
    if ((f & preferred) == preferred) return i;
    if (fallback < 0) fallback = int(i);
  }
  if (fallback < 0) throw Error("device '" + caps_.name + "' has no suitable memory type");
  return uint32_t(fallback);
}

void Context::immediate(const std::function<void(VkCommandBuffer)>& record) {
  immediate_->begin();
  record(immediate_->cmd());
  immediate_->submit(queue_);
  immediate_->wait();
}

}  // namespace attnscope
