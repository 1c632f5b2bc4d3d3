// libFuzzer target: any bytes as a token file, and every token made visible.
#include <string>

#include "compute/tokens.h"
#include "tests/fuzz/fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace attnscope;
  std::string text(reinterpret_cast<const char*>(data), size);
  fuzz::expectOnlyErrors([&] {
    std::vector<std::string> tokens = parseTokens(text, "fuzz");  // every token, no count check
    for (const std::string& t : tokens) {
      std::string v = visibleToken(t);
      for (unsigned char c : v)
        if (c < 0x20 || c == 0x7f) std::abort();  // a control byte would be drawn raw
    }
  });
  return 0;
}
