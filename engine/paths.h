// Where the program finds its shaders and data files, whatever the working directory.
#pragma once
#include <filesystem>

namespace attnscope {

// Order: $ATTNSCOPE_SHADER_DIR; <exe>/../share/attnscope/shaders (installed);
// the source tree the binary was built from.
std::filesystem::path shaderDir();
// Same order with ATTNSCOPE_DATA_DIR and .../data.
std::filesystem::path dataDir();
// $ATTNSCOPE_CACHE_DIR, else $XDG_CACHE_HOME/attnscope, else ~/.cache/attnscope; empty if
// none can be created (the program then runs without a cache).
std::filesystem::path cacheDir();

}  // namespace attnscope
