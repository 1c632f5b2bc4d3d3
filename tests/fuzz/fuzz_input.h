// Shared by the fuzz targets: the fuzzer's bytes as a file (a memfd, so MappedFile and the
// whole path the app takes are exercised), and the rule that only attnscope::Error may come
// out of a parser: anything else (a crash, a sanitizer report, another exception) is a bug.
#pragma once
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "engine/error.h"

namespace attnscope::fuzz {

class MemFile {
 public:
  MemFile(const uint8_t* data, size_t size) {
    fd_ = memfd_create("attnscope-fuzz", 0);
    if (fd_ < 0) std::abort();
    for (size_t done = 0; done < size;) {
      ssize_t w = write(fd_, data + done, size - done);
      if (w <= 0) std::abort();
      done += size_t(w);
    }
  }
  ~MemFile() { close(fd_); }
  std::string path() const { return "/proc/self/fd/" + std::to_string(fd_); }

 private:
  int fd_ = -1;
};

template <typename F>
void expectOnlyErrors(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    // The one-line rule holds for every message.
    for (const char* p = e.what(); *p; ++p)
      if (*p == '\n') {
        std::fprintf(stderr, "error message with a newline: %s\n", e.what());
        std::abort();
      }
  }
}

}  // namespace attnscope::fuzz
