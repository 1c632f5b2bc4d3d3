// A read-only memory map of a whole file: inputs of hundreds of megabytes are read in place,
// a slice at a time, never copied whole into memory.
#pragma once
#include <cstdint>
#include <string>

namespace attnscope {

class MappedFile {
 public:
  // `where` names the file in errors ("Q file 'q.npy'"). Throws Error when it is missing, a
  // directory or cannot be mapped. An empty file maps to size 0 and data() == nullptr.
  MappedFile(const std::string& path, const std::string& where);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const uint8_t* data() const { return data_; }
  uint64_t size() const { return size_; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  int fd_ = -1;
  const uint8_t* data_ = nullptr;
  uint64_t size_ = 0;
};

}  // namespace attnscope
