#include "engine/paths.h"

#include <cstdlib>
#include <system_error>

#include "engine/error.h"

namespace fs = std::filesystem;

namespace attnscope {

static fs::path exeDir() {
  std::error_code ec;
  fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  return ec ? fs::path() : exe.parent_path();
}

static fs::path& resourceRoot() {
  static fs::path root;
  return root;
}

void setResourceRoot(const fs::path& root) { resourceRoot() = root; }

static fs::path locate(const char* envVar, const char* sub, const char* sourceDir,
                       const char* marker) {
  if (const char* env = std::getenv(envVar); env && *env) {
    if (!fs::exists(fs::path(env) / marker))
      throw Error(std::string(envVar) + "=" + env + " does not hold attnscope's " + sub +
                  " (no " + marker + " there): unset it or point it at the right folder");
    return env;
  }
  if (!resourceRoot().empty() && fs::exists(resourceRoot() / sub / marker)) return resourceRoot() / sub;
  fs::path installed = exeDir() / ".." / "share" / "attnscope" / sub;
  if (fs::exists(installed / marker)) return fs::weakly_canonical(installed);
  if (fs::exists(fs::path(sourceDir) / marker)) return sourceDir;
  throw Error(std::string("cannot find attnscope's ") + sub + " folder (looked in " +
              installed.string() + " and " + sourceDir + "): reinstall, or set " + envVar);
}

fs::path shaderDir() {
  return locate("ATTNSCOPE_SHADER_DIR", "shaders", ATTNSCOPE_SOURCE_SHADER_DIR,
                "include/common.glsl");
}

fs::path dataDir() {
  return locate("ATTNSCOPE_DATA_DIR", "data", ATTNSCOPE_SOURCE_DATA_DIR, "colormaps.json");
}

fs::path cacheDir() {
  fs::path dir;
  if (const char* env = std::getenv("ATTNSCOPE_CACHE_DIR"); env && *env)
    dir = env;
  else if (const char* xdg = std::getenv("XDG_CACHE_HOME"); xdg && *xdg)
    dir = fs::path(xdg) / "attnscope";
  else if (const char* home = std::getenv("HOME"); home && *home)
    dir = fs::path(home) / ".cache" / "attnscope";
  else
    return {};
  std::error_code ec;
  fs::create_directories(dir, ec);
  return ec ? fs::path() : dir;
}

}  // namespace attnscope
