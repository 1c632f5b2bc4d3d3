// libFuzzer target: any bytes as a .npy file, read as the app reads Q/K/V.
#include <vector>

#include "compute/head_source.h"
#include "compute/npy.h"
#include "tests/fuzz/fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace attnscope;
  fuzz::expectOnlyErrors([&] { parseNpyHeader(data, size, "fuzz"); });
  fuzz::MemFile file(data, size);
  fuzz::expectOnlyErrors([&] { readNpyMatrix(file.path(), "Q"); });
  fuzz::expectOnlyErrors([&] {
    HeadSource s = HeadSource::open(file.path(), "Q", "auto");
    std::vector<float> rows(s.rows() * (s.cols() + 1));
    s.readRows(0, s.rows(), rows.data(), s.cols() + 1);
  });
  return 0;
}
