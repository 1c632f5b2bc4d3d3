// One place that turns a VkResult into an error naming the failing call, its file and line.
// Checks stay on in Release builds: a failed Vulkan call is never silently ignored.
#pragma once
#include <volk.h>

#include <stdexcept>
#include <string>

namespace attnscope {

// A user-facing error: one line saying what was wrong and what to do. The app prints
// what() and exits non-zero; nothing catches it to carry on with a wrong picture.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Thrown between units of work when the user asked to stop (Ctrl-C, a window closed).
class Cancelled : public Error {
 public:
  Cancelled() : Error("cancelled") {}
};

class VulkanError : public Error {
 public:
  VulkanError(VkResult result, const char* call, const char* file, int line);
  VkResult result() const { return result_; }

 private:
  VkResult result_;
};

const char* vkResultName(VkResult result);

void throwVulkanError(VkResult result, const char* call, const char* file, int line);

}  // namespace attnscope

#define VK_CHECK(call)                                                         \
  do {                                                                         \
    VkResult vk_check_result_ = (call);                                        \
    if (vk_check_result_ != VK_SUCCESS)                                        \
      ::attnscope::throwVulkanError(vk_check_result_, #call, __FILE__, __LINE__); \
  } while (0)
