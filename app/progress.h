// A progress bar on the terminal (stderr), and Ctrl-C as a request to stop between strips.
#pragma once
#include <atomic>
#include <chrono>
#include <string>

namespace attnscope {

// Installs a SIGINT handler that sets a flag; a second Ctrl-C ends the process at once.
void installCancelHandler();
bool cancelRequested();

class ProgressBar {
 public:
  explicit ProgressBar(std::string label, bool quiet = false);
  ~ProgressBar();
  void update(double fraction);  // 0..1; redraws at most ~10 times a second
  void finish();

 private:
  void draw(double fraction, bool final);
  std::string label_;
  bool quiet_, tty_, finished_ = false;
  int lastDecile_ = -1;
  std::chrono::steady_clock::time_point start_, lastDraw_;
};

}  // namespace attnscope
