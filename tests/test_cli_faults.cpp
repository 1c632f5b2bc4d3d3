// A lost device or a full GPU, as the user meets them: the failure is injected at a chosen
// Vulkan call (ATTNSCOPE_INJECT_VK_ERROR, see engine/vk_check.h) on the real device, and every
// command answers with one line and exit code 1: no crash, no hang, no half-written file.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>

#include "tests/cli_support.h"

namespace fs = std::filesystem;

namespace attnscope::test {
namespace {

// `timeout` turns a hang into exit code 124, which fails the exit-code check below.
void expectFaultHandled(const std::string& args, const std::string& fault, const std::string& needle) {
  fs::path out = scratch() / "fault-output.npy";
  fs::remove(out);
  CliRun r = run(args + " -q -o " + out.string(), "ATTNSCOPE_INJECT_VK_ERROR=" + fault + " timeout 120");
  SCOPED_TRACE(fault);
  EXPECT_EQ(r.exitCode, 1) << r.err;
  EXPECT_EQ(r.err.rfind("attnscope: error: ", 0), 0u) << r.err;
  EXPECT_NE(r.err.find(needle), std::string::npos) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << "one line only: " << r.err;
  EXPECT_FALSE(fs::exists(out)) << "a failed export leaves no file";
}

TEST(Faults, DeviceLossAnywhereInAnExportGivesOneLine) {
  // The first submission (generating Q/K), a later one (the map), the waits on them, and a
  // fence reset: each a different place for a lost device to surface.
  for (const char* fault : {"vkQueueSubmit=DEVICE_LOST@1", "vkQueueSubmit=DEVICE_LOST@3", "vkWaitForFences=DEVICE_LOST@1",
                            "vkWaitForFences=DEVICE_LOST@3", "vkResetFences=DEVICE_LOST@2", "vkCreateDevice=DEVICE_LOST@1"})
    expectFaultHandled("export --tokens 3000", fault, "device was lost");
}

TEST(Faults, OutOfDeviceMemoryInAnExportSaysWhatRanOut) {
  for (const char* fault : {"vkAllocateMemory=OUT_OF_DEVICE_MEMORY@3", "vkAllocateMemory=OUT_OF_DEVICE_MEMORY@6+",
                            "vkCreateImage=OUT_OF_DEVICE_MEMORY@1", "vkCreateBuffer=OUT_OF_DEVICE_MEMORY@4"})
    expectFaultHandled("export --tokens 3000", fault, "ran out of memory");
}

TEST(Faults, DriverOutOfHostMemorySaysSo) {
  for (const char* fault : {"vkCreateInstance=OUT_OF_HOST_MEMORY@1", "vkCreateComputePipelines=OUT_OF_HOST_MEMORY@2"})
    expectFaultHandled("export --tokens 3000", fault, "ran out of host memory");
}

TEST(Faults, AMisspeltInjectionIsRefusedNotIgnored) {
  for (const char* bad : {"vkQueueSubmit=DEVICE_LOSS@1", "vkQueueSubmit", "vkQueueSubmit=DEVICE_LOST@0", "=DEVICE_LOST",
                          "vkQueueSubmit=DEVICE_LOST@2x"})
    expectCleanError("info", "is not call=RESULT", std::string("ATTNSCOPE_INJECT_VK_ERROR=") + bad);
}

// The viewer in a window: device loss mid-session (after frames were drawn) and memory that
// runs out for good while tiles are being made both end the session with one line.
TEST(Faults, TheViewerEndsWithOneLineOnDeviceLossAndOutOfMemory) {
  if (!haveXvfb()) GTEST_SKIP() << "xvfb-run is not installed (apt-get install xvfb xauth); setup.sh installs it";
  fs::path script = scratch() / "fault-script.json";
  std::ofstream(script) << R"({"steps": [{"frames": 20}, {"zoom": 8, "at": [600, 400]}, {"settle": true}]})";
  struct Case {
    const char* fault;
    const char* needle;
  };
  for (Case c : {Case{"vkQueueSubmit=DEVICE_LOST@12", "device was lost"},
                 Case{"vkWaitForFences=DEVICE_LOST@12", "device was lost"},
                 Case{"vkAcquireNextImageKHR=DEVICE_LOST@5", "device was lost"},
                 Case{"vkQueuePresentKHR=DEVICE_LOST@7", "device was lost"},
                 // From the 32nd allocation on: the tiles' allocations start at ~28, and how many a
                 // whole session makes depends on how far the sweep got before the zoom (a slow
                 // kernel variant sometimes finished under 40, and the fault never came).
                 Case{"vkAllocateMemory=OUT_OF_DEVICE_MEMORY@32+", "ran out of memory"}}) {
    SCOPED_TRACE(c.fault);
    CliRun r = runInXvfb("view --tokens 3000 --script " + script.string(),
                         std::string("ATTNSCOPE_INJECT_VK_ERROR=") + c.fault + " timeout 120");
    EXPECT_EQ(r.exitCode, 1) << r.err;
    EXPECT_EQ(r.err.rfind("attnscope: error: ", 0), 0u) << r.err;
    EXPECT_NE(r.err.find(c.needle), std::string::npos) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << "one line only: " << r.err;
  }
}

}  // namespace
}  // namespace attnscope::test
