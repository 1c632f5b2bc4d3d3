#include <cstdio>

#include "app/commands.h"
#include "engine/context.h"

namespace attnscope {

void addInfoCommand(CLI::App& app) {
  auto* cmd = app.add_subcommand("info", "List Vulkan devices, the chosen one, its limits and optional features");
  auto opts = std::make_shared<DeviceOptions>();
  opts->add(*cmd);
  cmd->callback([opts] {
    Context ctx(opts->context());
    std::printf("Vulkan devices:\n");
    for (const auto& d : ctx.allDevices())
      std::printf("  %c %u: %s (%s, Vulkan %u.%u)\n", d.index == ctx.chosenIndex() ? '*' : ' ', d.index,
                  d.name.c_str(), deviceTypeName(d.type), VK_API_VERSION_MAJOR(d.apiVersion),
                  VK_API_VERSION_MINOR(d.apiVersion));
    const DeviceCaps& c = ctx.caps();
    const auto& l = c.limits;
    std::printf("\nchosen: %s\n", c.name.c_str());
    std::printf("  driver:                  %s %s\n", c.driverName.c_str(), c.driverInfo.c_str());
    std::printf("  Vulkan:                  %u.%u.%u\n", VK_API_VERSION_MAJOR(c.apiVersion),
                VK_API_VERSION_MINOR(c.apiVersion), VK_API_VERSION_PATCH(c.apiVersion));
    std::printf("  device-local memory:     %.1f GiB\n", double(c.deviceLocalBytes) / (1 << 30));
    std::printf("  max storage buffer range %.0f MiB\n", double(l.maxStorageBufferRange) / (1 << 20));
    std::printf("  max 2D image             %u\n", l.maxImageDimension2D);
    std::printf("  max workgroup size       %u (count %u x %u x %u)\n", l.maxComputeWorkGroupInvocations,
                l.maxComputeWorkGroupCount[0], l.maxComputeWorkGroupCount[1], l.maxComputeWorkGroupCount[2]);
    std::printf("  shared memory            %u KiB\n", l.maxComputeSharedMemorySize / 1024);
    std::printf("  push constants           %u bytes\n", l.maxPushConstantsSize);
    std::printf("  subgroup size            %u\n", c.subgroupSize);
    std::printf("\noptional features (used when present):\n");
    std::printf("  subgroup shuffle         %s\n", c.subgroupShuffle ? "yes" : "no");
    std::printf("  subgroup arithmetic      %s\n", c.subgroupArithmetic ? "yes" : "no");
    std::printf("  16-bit storage           %s\n", c.storage16Bit ? "yes" : "no");
    std::printf("  float16 arithmetic       %s\n", c.shaderFloat16 ? "yes" : "no");
    std::printf("  GPU timestamps           %s\n", c.timestamps ? "yes" : "no");
    std::printf("  validation layer         %s\n", ctx.validationEnabled() ? "on" : "off (--validate)");
  });
}

}  // namespace attnscope
