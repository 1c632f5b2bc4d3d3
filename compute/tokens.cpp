#include "compute/tokens.h"

#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "engine/error.h"

namespace attnscope {

std::vector<std::string> readTokens(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error("token file '" + path + "' cannot be read");
  std::stringstream ss;
  ss << in.rdbuf();
  return parseTokens(ss.str(), path);
}

std::vector<std::string> readTokens(const std::string& path, uint64_t n) {
  std::vector<std::string> tokens = readTokens(path);
  checkTokenCount(tokens, n, path);
  return tokens;
}

void checkTokenCount(const std::vector<std::string>& tokens, uint64_t n, const std::string& path) {
  if (tokens.size() != n)
    throw Error("token file '" + path + "' holds " + std::to_string(tokens.size()) + " tokens but the map has n = " +
                std::to_string(n) + ": give one token per row of Q");
}

std::vector<std::string> parseTokens(const std::string& text, uint64_t n, const std::string& path) {
  std::vector<std::string> tokens = parseTokens(text, path);
  checkTokenCount(tokens, n, path);
  return tokens;
}

std::vector<std::string> parseTokens(const std::string& text, const std::string& path) {
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
  return tokens;
}

namespace {
std::string escapeBytes(const std::string& token);
}

std::string visibleToken(const std::string& token) {
  std::string out = escapeBytes(token);
  if (!out.empty() && out.front() == ' ') out.replace(0, 1, "\xc2\xb7");  // '·' shows a leading space
  if (out.size() > 1 && out.back() == ' ') out.replace(out.size() - 1, 1, "\xc2\xb7");
  if (out.empty()) out = "\"\"";
  return out;
}

std::string excerpt(const std::string& text, size_t maxBytes) {
  std::string out = escapeBytes(text.size() > maxBytes * 4 ? text.substr(0, maxBytes * 4) : text);
  if (out.size() <= maxBytes) return out;
  size_t cut = maxBytes;
  while (cut > 0 && (static_cast<unsigned char>(out[cut]) & 0xc0) == 0x80) --cut;  // whole UTF-8 only
  return out.substr(0, cut) + "...";
}

namespace {

std::string escapeBytes(const std::string& token) {
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
      // A UTF-8 sequence is kept whole when it is valid (no overlong forms, no surrogates)
      // and printable; stray bytes become \xNN, invisible code points \u{NNNN}.
      int len = c >= 0xc2 && c <= 0xdf ? 2 : (c & 0xf0) == 0xe0 ? 3 : c >= 0xf0 && c <= 0xf4 ? 4 : 0;
      bool ok = len > 0 && i + len <= token.size();
      uint32_t cp = len == 2 ? c & 0x1f : len == 3 ? c & 0x0f : c & 0x07;
      for (int k = 1; ok && k < len; ++k) {
        unsigned char cc = static_cast<unsigned char>(token[i + k]);
        ok = (cc & 0xc0) == 0x80;
        cp = cp << 6 | (cc & 0x3f);
      }
      if (ok && len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ok = false;
      if (ok && len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ok = false;
      if (ok) {
        bool invisible = (cp >= 0x80 && cp <= 0x9f) || cp == 0xad || (cp >= 0x200b && cp <= 0x200f) ||
                         (cp >= 0x2028 && cp <= 0x202e) || (cp >= 0x2060 && cp <= 0x2064) || cp == 0xfeff;
        if (invisible) {
          char buf[16];
          std::snprintf(buf, sizeof buf, "\\u{%04x}", cp);
          out += buf;
        } else {
          out += token.substr(i, len);
        }
        i += len;
        continue;
      }
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    }
    ++i;
  }
  return out;
}

}  // namespace

}  // namespace attnscope
