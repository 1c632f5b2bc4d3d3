#include "tests/cli_support.h"

#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstring>
#include <fstream>

#include "compute/npy.h"
#include "tests/test_files.h"

namespace fs = std::filesystem;

namespace attnscope::test {

fs::path scratch() {
  return test::scratchDir("cli-test");
}

namespace {

CliRun runCommand(const std::string& command) {
  fs::path errFile = scratch() / "stderr.txt";
  std::string cmd = command + " 2>" + errFile.string();
  CliRun r{};
  FILE* p = popen(cmd.c_str(), "r");
  std::array<char, 4096> buf;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) r.out.append(buf.data(), n);
  int status = pclose(p);
  r.exitCode = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  std::ifstream in(errFile);
  r.err.assign(std::istreambuf_iterator<char>(in), {});
  return r;
}

}  // namespace

CliRun run(const std::string& args, const std::string& env) {
  return runCommand(env + " " + ATTNSCOPE_BINARY + " " + args);
}

// The program's exit code and stderr are its own, kept apart from xvfb-run's: under load
// xvfb-run itself can fail to clean up its temporary folder (exit 5, a line on stderr)
// after the program has exited.
CliRun runInXvfb(const std::string& args, const std::string& env) {
  fs::path errFile = scratch() / "xvfb-stderr.txt", rcFile = scratch() / "xvfb-rc.txt";
  fs::remove(rcFile);
  std::string inner = std::string(ATTNSCOPE_BINARY) + " " + args + " 2>" + errFile.string() + "; echo $? >" + rcFile.string();
  CliRun r = runCommand(env + " xvfb-run -a -s '-screen 0 1600x1000x24' sh -c '" + inner + "'");
  std::ifstream rc(rcFile), err(errFile);
  if (!(rc >> r.exitCode)) r.exitCode = -1;  // it never ran, or never returned
  r.err.assign(std::istreambuf_iterator<char>(err), {});
  return r;
}

bool haveXvfb() { return std::system("command -v xvfb-run >/dev/null 2>&1") == 0; }

void writeNpy(const fs::path& path, const ref::Matrix& m) {
  std::ofstream out(path, std::ios::binary);
  std::string h = npyHeader({m.rows, m.cols});
  out.write(h.data(), std::streamsize(h.size()));
  out.write(reinterpret_cast<const char*>(m.v.data()), std::streamsize(m.v.size() * 4));
}

void expectCleanError(const std::string& args, const std::string& needle, const std::string& env) {
  CliRun r = run(args, env);
  EXPECT_EQ(r.exitCode, 1) << args << "\nstderr: " << r.err;
  EXPECT_NE(r.err.find("attnscope: error: "), std::string::npos) << args << "\nstderr: " << r.err;
  EXPECT_NE(r.err.find(needle), std::string::npos) << args << "\nexpected '" << needle << "' in: " << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << "one line only: " << r.err;
}

std::vector<float> npyValues(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::string all((std::istreambuf_iterator<char>(in)), {});
  size_t headerLen = size_t(uint8_t(all[8])) | size_t(uint8_t(all[9])) << 8;
  std::vector<float> v((all.size() - 10 - headerLen) / 4);
  std::memcpy(v.data(), all.data() + 10 + headerLen, v.size() * 4);
  return v;
}

}  // namespace attnscope::test
