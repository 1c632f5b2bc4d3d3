// Where the program finds its shaders and data files, whatever the working directory.
#pragma once
#include <filesystem>

namespace attnscope {

// A folder holding shaders/ and data/ beside a library rather than an executable (the Python
// package sets its own folder at import). Looked at before the installed and source paths.
void setResourceRoot(const std::filesystem::path& root);

// Order: $ATTNSCOPE_SHADER_DIR; the resource root; <exe>/../share/attnscope/shaders (installed);
// the source tree the binary was built from.
std::filesystem::path shaderDir();
// Same order with ATTNSCOPE_DATA_DIR and .../data.
std::filesystem::path dataDir();
// $ATTNSCOPE_CACHE_DIR, else $XDG_CACHE_HOME/attnscope, else ~/.cache/attnscope; empty if
// none can be created (the program then runs without a cache).
std::filesystem::path cacheDir();

}  // namespace attnscope
