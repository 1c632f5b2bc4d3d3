#include "app/progress.h"

#include <csignal>
#include <ctime>
#include <cstdio>
#include <cstdlib>
#include <unistd.h>

namespace attnscope {

static std::atomic<int> gInterrupts{0};
static std::atomic<int64_t> gFirstInterruptNs{0};

static int64_t monotonicNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);  // async-signal-safe
  return int64_t(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

static void onSigint(int) {
  int64_t now = monotonicNs();
  if (gInterrupts.load() == 0) {
    gFirstInterruptNs = now;
    gInterrupts = 1;
    return;
  }
  // Tools like timeout(1) deliver one request twice (to the process and its group): only a
  // second Ctrl-C half a second or more after the first means "stop now".
  if (now - gFirstInterruptNs.load() >= 500000000) {  // write() is async-signal-safe
    static const char msg[] = "\nattnscope: interrupted again; stopping at once\n";
    ssize_t ignored = write(STDERR_FILENO, msg, sizeof msg - 1);
    (void)ignored;
    std::_Exit(130);
  }
}

void installCancelHandler() {
  struct sigaction sa{};
  sa.sa_handler = onSigint;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
}

bool cancelRequested() { return gInterrupts.load() > 0; }

ProgressBar::ProgressBar(std::string label, bool quiet)
    : label_(std::move(label)), quiet_(quiet), tty_(isatty(STDERR_FILENO)),
      start_(std::chrono::steady_clock::now()), lastDraw_(start_) {}

ProgressBar::~ProgressBar() {
  if (!finished_ && tty_ && !quiet_ && lastDecile_ >= 0) std::fputc('\n', stderr);
}

void ProgressBar::update(double f) {
  if (quiet_) return;
  auto now = std::chrono::steady_clock::now();
  if (tty_) {
    if (now - lastDraw_ < std::chrono::milliseconds(100) && lastDecile_ >= 0) return;
    lastDraw_ = now;
    lastDecile_ = 0;
    draw(f, false);
  } else {
    // Logs (CI, pipes): one line per 10 %, no carriage returns.
    int decile = int(f * 10);
    if (decile > lastDecile_) {
      lastDecile_ = decile;
      draw(f, false);
    }
  }
}

void ProgressBar::finish() {
  if (quiet_ || finished_) return;
  finished_ = true;
  if (!tty_ && lastDecile_ >= 10) return;  // the 100 % line is already in the log
  draw(1.0, true);
}

void ProgressBar::draw(double f, bool final) {
  f = f < 0 ? 0 : f > 1 ? 1 : f;
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  const int width = 30;
  int filled = int(f * width + 0.5);
  std::string bar(size_t(filled), '#');
  bar.append(size_t(width - filled), '-');
  char eta[48] = "";
  if (!final && f > 0.02) std::snprintf(eta, sizeof eta, ", ~%.0f s left", secs / f - secs);
  if (tty_) {
    std::fprintf(stderr, "\r%-22s [%s] %3d%% %.1f s%s   %s", label_.c_str(), bar.c_str(), int(f * 100), secs, eta,
                 final ? "\n" : "");
  } else {
    std::fprintf(stderr, "%-22s [%s] %3d%% %.1f s%s\n", label_.c_str(), bar.c_str(), int(f * 100), secs, eta);
  }
  std::fflush(stderr);
}

}  // namespace attnscope
