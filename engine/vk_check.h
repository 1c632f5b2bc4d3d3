// One place that turns a VkResult into an error naming the failing call, its file and line.
// Checks stay on in Release builds: a failed Vulkan call is never silently ignored.
#pragma once
#include <volk.h>

#include <string>

#include "engine/error.h"

namespace attnscope {

class VulkanError : public Error {
 public:
  VulkanError(VkResult result, const char* call, const char* file, int line);
  VkResult result() const { return result_; }

 private:
  VkResult result_;
};

const char* vkResultName(VkResult result);

void throwVulkanError(VkResult result, const char* call, const char* file, int line);

// Tests inject failures here: ATTNSCOPE_INJECT_VK_ERROR="vkQueueSubmit=DEVICE_LOST@3" makes the
// third checked call whose text starts with vkQueueSubmit fail with VK_ERROR_DEVICE_LOST
// without being made ("@3+": the third and every one after it) (OUT_OF_DEVICE_MEMORY and OUT_OF_HOST_MEMORY likewise), so the paths a
// lost device or a full GPU take are tested on any machine. Returns VK_SUCCESS when the call
// should run; without the variable that is one predictable branch.
VkResult injectedFault(const char* call);
// A wait (vkWaitForFences, vkQueueWaitIdle, vkDeviceWaitIdle) whose failure is injected is
// still made: a really lost device runs nothing more, and waiting keeps that true on the live
// one, so what the error path frees is not still in use by the device.
bool injectedFaultStillWaits(const char* call);
// The same from a test: the `at`-th next call starting with `call` fails with `result`, and
// with `sticky` every one after it too (an empty call turns injection off).
void setInjectedFaultForTesting(const std::string& call, VkResult result, uint64_t at, bool sticky = false);

}  // namespace attnscope

#define VK_CHECK(call)                                                                     \
  do {                                                                                     \
    VkResult vk_check_result_ = ::attnscope::injectedFault(#call);                        \
    if (vk_check_result_ == VK_SUCCESS) vk_check_result_ = (call);                         \
    else if (::attnscope::injectedFaultStillWaits(#call)) (void)(call);                    \
    if (vk_check_result_ != VK_SUCCESS)                                                    \
      ::attnscope::throwVulkanError(vk_check_result_, #call, __FILE__, __LINE__);          \
  } while (0)

// A result already in hand (a call checked by hand for the codes that are not errors), named
// by the call that returned it.
#define VK_CHECK_RESULT(result, callName)                                                 \
  do {                                                                                     \
    VkResult vk_check_result_ = (result);                                                  \
    if (vk_check_result_ != VK_SUCCESS)                                                    \
      ::attnscope::throwVulkanError(vk_check_result_, callName, __FILE__, __LINE__);       \
  } while (0)
