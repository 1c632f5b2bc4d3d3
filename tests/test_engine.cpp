// Engine behaviour a user relies on: shader compile errors name the file and line, compiled
// SPIR-V is cached on disk so a second run compiles nothing, and editing a shared include
// can never leave a stale binary behind.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <thread>
#include <vector>

#include "engine/error.h"
#include "engine/paths.h"
#include "engine/shader_compiler.h"
#include "engine/spirv_reflect.h"
#include "shaders/include/params.h"
#include "tests/test_files.h"

namespace fs = std::filesystem;

namespace attnscope::test {
namespace {

struct ShaderTree {
  fs::path root, shaders, cache;
  ShaderTree() {
    root = test::scratchDir(std::string("engine-test-") +
                            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(root);
    shaders = root / "shaders";
    cache = root / "cache";
    fs::create_directories(shaders / "include");
    write("include/common.glsl", "const float K = 1.0;\n");
    write("ok.comp",
          "#version 450\n#extension GL_GOOGLE_include_directive : require\n#include \"common.glsl\"\n"
          "layout(local_size_x = 1) in;\nlayout(binding = 0) buffer B { float v[]; };\n"
          "void main() { v[0] = K * VALUE; }\n");
    write("broken.comp", "#version 450\nlayout(local_size_x = 1) in;\nvoid main() {\n  float x = ;\n}\n");
  }
  ~ShaderTree() { fs::remove_all(root); }
  void write(const std::string& name, const std::string& text) { std::ofstream(shaders / name) << text; }
};

TEST(ShaderCompiler, CompileErrorNamesFileAndLine) {
  ShaderTree t;
  ShaderCompiler c(t.shaders, t.cache);
  try {
    c.compile("broken.comp");
    FAIL() << "expected a compile error";
  } catch (const Error& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find("broken.comp:4"), std::string::npos) << msg;
  }
}

TEST(ShaderCompiler, SecondRunIsServedFromTheDiskCache) {
  ShaderTree t;
  {
    ShaderCompiler first(t.shaders, t.cache);
    auto a = first.compile("ok.comp", {{"VALUE", "2.0"}});
    EXPECT_EQ(first.compiles(), 1u);
    EXPECT_EQ(a[0], 0x07230203u);
  }
  ShaderCompiler second(t.shaders, t.cache);  // a new process, in effect
  second.compile("ok.comp", {{"VALUE", "2.0"}});
  EXPECT_EQ(second.compiles(), 0u);
  EXPECT_EQ(second.cacheHits(), 1u);
  second.compile("ok.comp", {{"VALUE", "3.0"}});  // other defines: another variant
  EXPECT_EQ(second.compiles(), 1u);
}

TEST(ShaderCompiler, EditingAnIncludeInvalidatesTheCache) {
  ShaderTree t;
  { ShaderCompiler(t.shaders, t.cache).compile("ok.comp", {{"VALUE", "2.0"}}); }
  t.write("include/common.glsl", "const float K = 5.0;\n");
  ShaderCompiler after(t.shaders, t.cache);
  after.compile("ok.comp", {{"VALUE", "2.0"}});
  EXPECT_EQ(after.compiles(), 1u) << "a changed include must be recompiled";
}

TEST(ShaderCompiler, ThreadsCompilingAtOnceGetWhatOneThreadGets) {
  // The kernel tuner compiles its candidates on every core; the same key from two threads
  // at once must not mix their cache files.
  ShaderTree t;
  std::vector<std::vector<uint32_t>> serial;
  {
    ShaderCompiler one(t.shaders, fs::path());  // no disk cache: every call compiles
    for (int i = 0; i < 8; ++i) serial.push_back(one.compile("ok.comp", {{"VALUE", std::to_string(i % 4) + ".0"}}));
  }
  ShaderCompiler shared(t.shaders, t.cache);
  std::vector<std::vector<uint32_t>> got(8);
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; ++i)
    threads.emplace_back([&, i] { got[i] = shared.compile("ok.comp", {{"VALUE", std::to_string(i % 4) + ".0"}}); });
  for (auto& th : threads) th.join();
  for (int i = 0; i < 8; ++i) EXPECT_EQ(got[i], serial[i]) << i;
  EXPECT_EQ(shared.compiles() + shared.cacheHits(), 8u);
  EXPECT_GE(shared.compiles(), 4u);  // four different defines
  ShaderCompiler later(t.shaders, t.cache);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(later.compile("ok.comp", {{"VALUE", std::to_string(i) + ".0"}}), serial[i]);
  EXPECT_EQ(later.cacheHits(), 4u) << "every variant's cache file is whole";
  size_t leftovers = 0;
  for (auto& e : fs::directory_iterator(t.cache / "spirv")) leftovers += e.path().string().find(".tmp") != std::string::npos;
  EXPECT_EQ(leftovers, 0u);
}

TEST(SpirvReflection, WorkgroupSizesBindingsAndPushConstantsComeFromTheShader) {
  // The real shaders, compiled as the kernels compile them (optimised: no debug names).
  ShaderCompiler c;
  SpirvReflection tile = reflectSpirv(c.compile("tile_reduce.comp"), "tile_reduce.comp");
  EXPECT_EQ(tile.localSize[0], 64u);
  EXPECT_EQ(tile.localSize[1], 1u);
  EXPECT_EQ(tile.localSizeSpecId[0], -1);
  ASSERT_EQ(tile.bindings.size(), 5u);
  for (int b = 0; b < 4; ++b) EXPECT_EQ(tile.bindings[b], VK_DESCRIPTOR_TYPE_STORAGE_BUFFER);
  EXPECT_EQ(tile.bindings[4], VK_DESCRIPTOR_TYPE_STORAGE_IMAGE);
  EXPECT_EQ(tile.pushConstantBytes, 8u * 4);
  for (const char* shuffle : {"0", "1"}) {
    SpirvReflection bs = reflectSpirv(
        c.compile("block_stats.comp", {{"D4", "16"}, {"ROWS", "4"}, {"USE_SHUFFLE", shuffle}, {"TRACK_ENTROPY", "0"}, {"SOFTCAP", "0"}}),
        "block_stats.comp");
    EXPECT_EQ(bs.localSizeSpecId[0], int32_t(SPEC_LOCAL_SIZE_X)) << "local_size_x_id";
    EXPECT_EQ(bs.bindings.size(), 4u);
    EXPECT_EQ(bs.pushConstantBytes, 20u * 4);
  }
  // Keys through a samplerBuffer: a uniform texel buffer, the rest storage buffers.
  SpirvReflection tb = reflectSpirv(c.compile("block_stats.comp", {{"D4", "16"}, {"ROWS", "4"}, {"USE_SHUFFLE", "1"},
                                                                   {"KEYS_TEXEL", "1"}, {"TRACK_ENTROPY", "0"}, {"SOFTCAP", "0"}}),
                                    "block_stats.comp");
  ASSERT_EQ(tb.bindings.size(), 4u);
  EXPECT_EQ(tb.bindings[1], VK_DESCRIPTOR_TYPE_UNIFORM_TEXEL_BUFFER);
  for (int b : {0, 2, 3}) EXPECT_EQ(tb.bindings[b], VK_DESCRIPTOR_TYPE_STORAGE_BUFFER) << b;
  EXPECT_THROW(reflectSpirv({1, 2, 3}, "junk"), Error);
}

TEST(Paths, ShadersAreFoundWhateverTheWorkingDirectory) {
  fs::path before = fs::current_path();
  fs::current_path(fs::temp_directory_path());
  EXPECT_TRUE(fs::exists(shaderDir() / "block_stats.comp"));
  EXPECT_TRUE(fs::exists(dataDir() / "colormaps.json"));
  fs::current_path(before);
}

}  // namespace
}  // namespace attnscope::test
