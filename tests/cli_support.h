// Running the attnscope command as a user does, for the command-line tests.
#pragma once
#include <filesystem>
#include <string>
#include <vector>

#include "tests/reference.h"

namespace attnscope::test {

struct CliRun {
  int exitCode;
  std::string out, err;
};

// A scratch folder of this test process.
std::filesystem::path scratch();
// Runs `attnscope <args>` with `env` assignments before it; stdout and stderr apart.
CliRun run(const std::string& args, const std::string& env = "");
// The same in a window under Xvfb (the caller skips when xvfb-run is missing).
CliRun runInXvfb(const std::string& args, const std::string& env = "");
bool haveXvfb();
void writeNpy(const std::filesystem::path& path, const ref::Matrix& m);
// The float32 values of an .npy file of any shape (the header's length from its preamble).
std::vector<float> npyValues(const std::filesystem::path& path);
// One line, naming the problem, exit code 1 (not a signal, not 0).
void expectCleanError(const std::string& args, const std::string& needle, const std::string& env = "");

}  // namespace attnscope::test
