// Token strings for the map's rows and columns: from a JSON array of strings or a text file
// of one token per line, checked against n, and made printable for labels: control and
// invisible characters are shown as escapes, never drawn raw.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace attnscope {

// Throws Error when the file is malformed or holds a number of tokens other than n.
std::vector<std::string> readTokens(const std::string& path, uint64_t n);
// Every token of the file, however many (checkTokenCount checks them against n later).
std::vector<std::string> readTokens(const std::string& path);
void checkTokenCount(const std::vector<std::string>& tokens, uint64_t n, const std::string& path);

// The same for the file's text; `path` names it in errors.
std::vector<std::string> parseTokens(const std::string& text, uint64_t n, const std::string& path);
std::vector<std::string> parseTokens(const std::string& text, const std::string& path);

// A label for a token: printable text kept (UTF-8 included), control characters and
// invalid bytes shown as escapes (\n, \t, \x07, ...), a leading/trailing space as '·'.
std::string visibleToken(const std::string& token);

// Text that came from a file (a dtype, a tensor name, a header value), made safe to put in
// a one-line error message: escaped like a token and cut to about `maxBytes`.
std::string excerpt(const std::string& text, size_t maxBytes = 48);

}  // namespace attnscope
