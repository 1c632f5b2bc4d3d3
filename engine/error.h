// The errors a user sees: one line saying what was wrong and what to do. No Vulkan here, so
// the file parsers (and their fuzz targets) do not pull in the Vulkan headers; VkResults
// become errors in engine/vk_check.h.
#pragma once
#include <stdexcept>
#include <string>

namespace attnscope {

// A user-facing error: one line saying what was wrong and what to do. The app prints
// what() and exits non-zero; nothing catches it to carry on with a wrong picture.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The device (or the driver's host memory for it) could not give an allocation. The message
// says what was asked for and what is held; a caller that can free memory (the tile cache)
// catches it and tries again, and the command adds what the user can change.
class OutOfDeviceMemory : public Error {
 public:
  using Error::Error;
};

// Thrown between units of work when the user asked to stop (Ctrl-C, a window closed).
class Cancelled : public Error {
 public:
  Cancelled() : Error("cancelled") {}
};

}  // namespace attnscope
