#include "compute/tokens.h"

#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "engine/error.h"

namespace attnscope {

std::vector<std::string> readTokens(const std::string& path, uint64_t n) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error("token file '" + path + "' cannot be read");
  std::stringstream ss;
  ss << in.rdbuf();
  std::string text = ss.str();
  std::vector<std::string> tokens;
  size_t first = text.find_first_not_of(" \t\r\n");
  if (first != std::string::npos && text[first] == '[') {
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(text);
    } catch (const nlohmann::json::exception&) {
      throw Error("token file '" + path + "' starts like JSON but is not valid JSON");
    }
    if (!j.is_array()) throw Error("token file '" + path + "' must hold a JSON array of strings");
    for (size_t i = 0; i < j.size(); ++i) {
      if (!j[i].is_string())
        throw Error("token file '" + path + "': entry " + std::to_string(i) + " is not a string");
      tokens.push_back(j[i].get<std::string>());
    }
  } else {
    // One token per line; a final newline does not start another token.
    size_t start = 0;
    while (start < text.size()) {
      size_t nl = text.find('\n', start);
      if (nl == std::string::npos) nl = text.size();
      std::string line = text.substr(start, nl - start);
      if (!line.empty() && line.back() == '\r') line.pop_back();
      tokens.push_back(line);
      start = nl + 1;
    }
  }
  if (tokens.size() != n)
    throw Error("token file '" + path + "' holds " + std::to_string(tokens.size()) + " tokens but the map has n = " +
                std::to_string(n) + ": give one token per row of Q");
  return tokens;
}

std::string visibleToken(const std::string& token) {
  std::string out;
  for (size_t i = 0; i < token.size();) {
    unsigned char c = static_cast<unsigned char>(token[i]);
    if (c == '\n') out += "\\n";
    else if (c == '\t') out += "\\t";
    else if (c == '\r') out += "\\r";
    else if (c < 0x20 || c == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    } else if (c < 0x80) {
      out += char(c);
    } else {
      // A UTF-8 sequence is kept whole when it is valid; stray bytes become escapes.
      int len = (c & 0xe0) == 0xc0 ? 2 : (c & 0xf0) == 0xe0 ? 3 : (c & 0xf8) == 0xf0 ? 4 : 0;
      bool ok = len > 0 && i + len <= token.size();
      for (int k = 1; ok && k < len; ++k) ok = (static_cast<unsigned char>(token[i + k]) & 0xc0) == 0x80;
      if (ok) {
        out += token.substr(i, len);
        i += len;
        continue;
      }
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    }
    ++i;
  }
  if (!out.empty() && out.front() == ' ') out.replace(0, 1, "\xc2\xb7");  // '·' shows a leading space
  if (out.size() > 1 && out.back() == ' ') out.replace(out.size() - 1, 1, "\xc2\xb7");
  if (out.empty()) out = "\"\"";
  return out;
}

}  // namespace attnscope
