// Why this exists: long runs (calibration, evaluation, sweeps) show progress on stderr: a bar
// redrawn in place on a terminal, or a line every 10% when stderr is a file or pipe.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace sq {

class Progress {
 public:
  Progress(std::string label, int64_t total, bool enabled = true);
  // Ends a bar left unfinished (an error thrown mid-run), so the error line starts its own line.
  ~Progress();
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;
  void step(int64_t n = 1);  // advance and redraw
  void finish();

 private:
  void draw(bool final_line);

  std::string label_;
  int64_t total_, done_ = 0;
  bool enabled_, tty_;
  int last_decile_ = -1;
  std::chrono::steady_clock::time_point start_;
};

}  // namespace sq
