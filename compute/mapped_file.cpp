#include "compute/mapped_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "engine/error.h"

namespace attnscope {

MappedFile::MappedFile(const std::string& path, const std::string& where) : path_(path) {
  fd_ = ::open(path.c_str(), O_RDONLY);
  if (fd_ < 0) {
    if (errno == ENOENT) throw Error(where + " does not exist");
    throw Error(where + " cannot be opened: " + std::strerror(errno));
  }
  struct stat st {};
  if (fstat(fd_, &st) != 0 || !S_ISREG(st.st_mode)) {
    bool dir = S_ISDIR(st.st_mode);
    ::close(fd_);
    throw Error(where + (dir ? " is a directory, not a file" : " is not a regular file"));
  }
  size_ = uint64_t(st.st_size);
  if (size_ == 0) return;
  void* m = mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd_, 0);
  if (m == MAP_FAILED) {
    int e = errno;
    ::close(fd_);
    throw Error(where + " cannot be memory-mapped: " + std::strerror(e));
  }
  data_ = static_cast<const uint8_t*>(m);
  // Rows are read front to back once.
  madvise(m, size_, MADV_SEQUENTIAL);
}

MappedFile::~MappedFile() {
  if (data_) munmap(const_cast<uint8_t*>(data_), size_);
  if (fd_ >= 0) ::close(fd_);
}

}  // namespace attnscope
