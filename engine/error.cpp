#include "engine/error.h"

#include <filesystem>

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
  std::string hint;
  if (result == VK_ERROR_OUT_OF_DEVICE_MEMORY || result == VK_ERROR_OUT_OF_HOST_MEMORY)
    hint = " (the device ran out of memory: try fewer tokens, a smaller head dimension or a smaller output)";
  else if (result == VK_ERROR_DEVICE_LOST)
    hint = " (the device was lost: the driver reset it; rerun, and report it if it repeats)";
  return std::string(call) + " failed with " + vkResultName(result) + " at " +
         std::filesystem::path(file).filename().string() + ":" + std::to_string(line) + hint;
}

VulkanError::VulkanError(VkResult result, const char* call, const char* file, int line)
    : Error(describe(result, call, file, line)), result_(result) {}

void throwVulkanError(VkResult result, const char* call, const char* file, int line) {
  throw VulkanError(result, call, file, line);
}

}  // namespace attnscope
