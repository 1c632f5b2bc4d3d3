#include "engine/vk_check.h"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <mutex>

namespace attnscope {

const char* vkResultName(VkResult result) {
  switch (result) {
#define NAME(r) \
  case r:       \
    return #r;
    NAME(VK_SUCCESS)
    NAME(VK_NOT_READY)
    NAME(VK_TIMEOUT)
    NAME(VK_EVENT_SET)
    NAME(VK_EVENT_RESET)
    NAME(VK_INCOMPLETE)
    NAME(VK_ERROR_OUT_OF_HOST_MEMORY)
    NAME(VK_ERROR_OUT_OF_DEVICE_MEMORY)
    NAME(VK_ERROR_INITIALIZATION_FAILED)
    NAME(VK_ERROR_DEVICE_LOST)
    NAME(VK_ERROR_MEMORY_MAP_FAILED)
    NAME(VK_ERROR_LAYER_NOT_PRESENT)
    NAME(VK_ERROR_EXTENSION_NOT_PRESENT)
    NAME(VK_ERROR_FEATURE_NOT_PRESENT)
    NAME(VK_ERROR_INCOMPATIBLE_DRIVER)
    NAME(VK_ERROR_TOO_MANY_OBJECTS)
    NAME(VK_ERROR_FORMAT_NOT_SUPPORTED)
    NAME(VK_ERROR_FRAGMENTED_POOL)
    NAME(VK_ERROR_UNKNOWN)
    NAME(VK_ERROR_OUT_OF_POOL_MEMORY)
    NAME(VK_ERROR_INVALID_EXTERNAL_HANDLE)
    NAME(VK_ERROR_FRAGMENTATION)
    NAME(VK_ERROR_INVALID_OPAQUE_CAPTURE_ADDRESS)
    NAME(VK_PIPELINE_COMPILE_REQUIRED)
    NAME(VK_ERROR_SURFACE_LOST_KHR)
    NAME(VK_ERROR_NATIVE_WINDOW_IN_USE_KHR)
    NAME(VK_SUBOPTIMAL_KHR)
    NAME(VK_ERROR_OUT_OF_DATE_KHR)
    NAME(VK_ERROR_INCOMPATIBLE_DISPLAY_KHR)
    NAME(VK_ERROR_VALIDATION_FAILED_EXT)
#undef NAME
    default:
      return "VK_RESULT_UNKNOWN";
  }
}

static std::string describe(VkResult result, const char* call, const char* file, int line) {
  std::string where = std::string(call).substr(0, std::string(call).find('(')) + " at " +
                      std::filesystem::path(file).filename().string() + ":" + std::to_string(line);
  // The two failures a user can meet on a healthy program say first what happened.
  if (result == VK_ERROR_DEVICE_LOST)
    return "the Vulkan device was lost (a driver reset, a GPU hang or a watchdog timeout) in " + where +
           ": nothing more can run on it; rerun, and report it if it repeats";
  if (result == VK_ERROR_OUT_OF_DEVICE_MEMORY)
    return "the device ran out of memory in " + where;
  if (result == VK_ERROR_OUT_OF_HOST_MEMORY)
    return "the Vulkan driver ran out of host memory in " + where + ": close other programs or use fewer tokens";
  return std::string(call) + " failed with " + vkResultName(result) + " at " +
         std::filesystem::path(file).filename().string() + ":" + std::to_string(line);
}

VulkanError::VulkanError(VkResult result, const char* call, const char* file, int line)
    : Error(describe(result, call, file, line)), result_(result) {}

void throwVulkanError(VkResult result, const char* call, const char* file, int line) {
  // Out of device memory from any call (an image, a pipeline) is what the tile cache and
  // the command answer, whichever call met it.
  if (result == VK_ERROR_OUT_OF_DEVICE_MEMORY) throw OutOfDeviceMemory(describe(result, call, file, line));
  throw VulkanError(result, call, file, line);
}


namespace {

// ATTNSCOPE_INJECT_VK_ERROR="vkQueueSubmit=DEVICE_LOST@3", parsed once.
struct Injection {
  bool on = false;
  std::string call;
  VkResult result = VK_SUCCESS;
  uint64_t at = 1;
  bool sticky = false;
  std::atomic<uint64_t> seen{0};
};

Injection& injection() {
  static Injection inj;
  static std::once_flag once;
  std::call_once(once, [] {
    const char* env = std::getenv("ATTNSCOPE_INJECT_VK_ERROR");
    if (!env || !*env) return;
    std::string s = env;
    size_t eq = s.find('='), atSign = s.find('@');
    // A typo must not pass as "no fault": the test that set it could then never fail.
    auto refuse = [&] {
      throw Error("ATTNSCOPE_INJECT_VK_ERROR='" + s +
                  "' is not call=RESULT[@k[+]] with RESULT one of DEVICE_LOST, OUT_OF_DEVICE_MEMORY, OUT_OF_HOST_MEMORY");
    };
    if (eq == std::string::npos || eq == 0) refuse();
    inj.call = s.substr(0, eq);
    std::string what = s.substr(eq + 1, atSign == std::string::npos ? std::string::npos : atSign - eq - 1);
    if (atSign != std::string::npos) {
      char* end = nullptr;
      inj.at = std::strtoull(s.c_str() + atSign + 1, &end, 10);
      inj.sticky = *end == '+';
      if (inj.at == 0 || end == s.c_str() + atSign + 1 || *(end + inj.sticky) != '\0') refuse();
    }
    if (what == "DEVICE_LOST") inj.result = VK_ERROR_DEVICE_LOST;
    else if (what == "OUT_OF_DEVICE_MEMORY") inj.result = VK_ERROR_OUT_OF_DEVICE_MEMORY;
    else if (what == "OUT_OF_HOST_MEMORY") inj.result = VK_ERROR_OUT_OF_HOST_MEMORY;
    else refuse();
    inj.on = true;
  });
  return inj;
}

}  // namespace

void setInjectedFaultForTesting(const std::string& call, VkResult result, uint64_t at, bool sticky) {
  Injection& inj = injection();
  inj.on = !call.empty();
  inj.call = call;
  inj.result = result;
  inj.at = at;
  inj.sticky = sticky;
  inj.seen = 0;
}

bool injectedFaultStillWaits(const char* call) {
  return std::strncmp(call, "vkWaitForFences", 15) == 0 || std::strncmp(call, "vkQueueWaitIdle", 15) == 0 ||
         std::strncmp(call, "vkDeviceWaitIdle", 16) == 0;
}

VkResult injectedFault(const char* call) {
  Injection& inj = injection();
  if (!inj.on || std::strncmp(call, inj.call.c_str(), inj.call.size()) != 0) return VK_SUCCESS;
  uint64_t seen = ++inj.seen;
  return seen == inj.at || (inj.sticky && seen > inj.at) ? inj.result : VK_SUCCESS;
}

}  // namespace attnscope
