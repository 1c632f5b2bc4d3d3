// libFuzzer target: any bytes as a token file, and every token made visible.
#include <string>

#include "compute/tokens.h"
#include "tests/fuzz/fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace attnscope;
  std::string text(reinterpret_cast<const char*>(data), size);
  fuzz::expectOnlyErrors([&] {
    // n is taken from the file itself so that the count check passes and every token is seen.
    std::vector<std::string> tokens;
    try {
      tokens = parseTokens(text, 0, "fuzz");
    } catch (const Error& e) {
      std::string m = e.what();
      size_t at = m.find(" holds ");
      if (at == std::string::npos) throw;
      tokens = parseTokens(text, std::stoull(m.substr(at + 7)), "fuzz");
    }
    for (const std::string& t : tokens) {
      std::string v = visibleToken(t);
      for (unsigned char c : v)
        if (c < 0x20 || c == 0x7f) std::abort();  // a control byte would be drawn raw
    }
  });
  return 0;
}
