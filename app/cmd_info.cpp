#include <cstdio>

#include "app/commands.h"
#include "compute/capture_metadata.h"
#include "compute/head_source.h"
#include "compute/safetensors.h"
#include "engine/context.h"

namespace attnscope {

namespace {

std::string mibText(uint64_t bytes) {
  char b[32];
  if (bytes < (1 << 20)) std::snprintf(b, sizeof b, "%.1f KiB", double(bytes) / 1024);
  else std::snprintf(b, sizeof b, "%.1f MiB", double(bytes) / (1 << 20));
  return b;
}

// What a user needs to write the --q/--k/--qkv options for a file.
void describeInputFile(const std::string& path) {
  if (path.size() < 12 || path.compare(path.size() - 12, 12, ".safetensors") != 0) {
    HeadSource s = HeadSource::open(path, "input", "auto");
    std::printf("%s: .npy [%llu, %llu] %s\n", path.c_str(), (unsigned long long)s.rows(),
                (unsigned long long)s.cols(), dtypeName(s.dtype()));
    return;
  }
  SafetensorsFile f(path);
  std::printf("%s: %zu tensors\n", path.c_str(), f.tensors().size());
  for (const auto& t : f.tensors())
    std::printf("  %-40s %-5s %-22s %s\n", t.name.c_str(), t.dtype.c_str(), shapeText(t.shape).c_str(),
                mibText(t.end - t.begin).c_str());
  std::vector<LayerTensors> groups = findLayerTensors(f.tensors());
  if (groups.empty()) {
    std::printf("no tensors are named like Q and K; choose them with --q %s:TENSOR --k %s:TENSOR\n", path.c_str(),
                path.c_str());
    return;
  }
  std::printf("Q/K/V found by name (use --qkv %s%s):\n", path.c_str(), groups.size() > 1 ? " --layer L" : "");
  for (const auto& g : groups)
    std::printf("  %s%-10s q=%s k=%s%s\n", g.layer ? "layer " : "", g.layer ? std::to_string(*g.layer).c_str() : "-",
                g.q.c_str(), g.k.c_str(), g.v.empty() ? "" : (" v=" + g.v).c_str());
  std::optional<CaptureMetadata> meta = readCaptureMetadata(f);
  if (!meta) {
    std::printf("no capture metadata: the mask, scale and rotary state come from the options (default causal, "
                "1/sqrt(d), Q and K used as they are)\n");
    return;
  }
  std::printf("capture metadata (applied by default; options that contradict it need --override-metadata):\n");
  std::printf("  model %s (%s, %s), %llu tokens%s, layout %s, by %s\n", meta->model.c_str(), meta->architecture.c_str(),
              meta->modelType.c_str(), (unsigned long long)meta->tokens,
              meta->queryBegin ? (", queries from position " + std::to_string(meta->queryBegin)).c_str() : "",
              meta->layout.c_str(), meta->producer.c_str());
  for (const LayerMetadata& l : meta->layers)
    std::printf("  layer %-4u %s\n", l.layer, describeLayerMetadata(l).c_str());
}

}  // namespace

void addInfoCommand(CLI::App& app) {
  auto* cmd = app.add_subcommand("info", "List Vulkan devices, the chosen one, its limits and optional features");
  auto opts = std::make_shared<DeviceOptions>();
  auto file = std::make_shared<std::string>();
  opts->add(*cmd);
  cmd->add_option("file", *file, "A .safetensors or .npy input: list its tensors, shapes and layers instead");
  cmd->callback([opts, file] {
    if (!file->empty()) {
      describeInputFile(*file);
      return;
    }
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
    std::printf("  max texel buffer         %.0f M texels (K through texels where a bound chunk fits)\n", double(l.maxTexelBufferElements) / 1e6);
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
