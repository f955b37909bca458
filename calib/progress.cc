#include "calib/progress.h"

#include <unistd.h>

#include <cstdio>

namespace sq {

Progress::Progress(std::string label, int64_t total, bool enabled)
    : label_(std::move(label)), total_(total), enabled_(enabled && total > 0),
      tty_(::isatty(2) != 0), start_(std::chrono::steady_clock::now()) {
  if (enabled_) draw(false);
}

Progress::~Progress() { finish(); }

void Progress::step(int64_t n) {
  done_ += n;
  if (enabled_) draw(false);
}

void Progress::finish() {
  if (enabled_ && tty_) std::fputc('\n', stderr);
  enabled_ = false;
}

void Progress::draw(bool) {
  double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  double eta = done_ > 0 ? elapsed / static_cast<double>(done_) * static_cast<double>(total_ - done_) : 0;
  int pct = static_cast<int>(100 * done_ / total_);
  if (tty_) {
    constexpr int kWidth = 30;
    int filled = static_cast<int>(kWidth * done_ / total_);
    std::string bar(static_cast<size_t>(filled), '=');
    bar.resize(kWidth, ' ');
    std::fprintf(stderr, "\r%s [%s] %lld/%lld %3d%% %.0fs elapsed, ETA %.0fs ", label_.c_str(),
                 bar.c_str(), static_cast<long long>(done_), static_cast<long long>(total_), pct,
                 elapsed, eta);
    std::fflush(stderr);
  } else {
    int decile = pct / 10;
    if (decile != last_decile_) {
      last_decile_ = decile;
      std::fprintf(stderr, "%s: %lld/%lld (%d%%), %.0fs elapsed, ETA %.0fs\n", label_.c_str(),
                   static_cast<long long>(done_), static_cast<long long>(total_), pct, elapsed, eta);
    }
  }
}

}  // namespace sq
