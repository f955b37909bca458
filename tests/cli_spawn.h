// Why this exists: the bad-input matrix (tests/cli_bad_input_test.cc) needs more control over a
// `softquant` child than run_cli's shell gives: an argument vector with no shell quoting, whether
// the child died from a signal, and resource limits set in the child only (RLIMIT_FSIZE with
// SIGXFSZ ignored turns every write past the limit into EFBIG: a full disk, without touching the
// real one).
#pragma once

#include <sys/resource.h>

#include <string>
#include <vector>

namespace sq::test {

struct SpawnOptions {
  // Largest file the child may write (bytes); writes beyond it fail with EFBIG.
  rlim_t file_size_limit = RLIM_INFINITY;
  // Give the child a pseudo-terminal as stderr (as a user's shell would), to see what progress
  // bars drawn in place look like; the terminal turns "\n" into "\r\n".
  bool stderr_tty = false;
};

struct SpawnResult {
  int exit_code = -1;  // -1 when the child did not exit normally
  int signal = 0;      // the signal that killed the child, 0 if none
  std::string out, err;
};

// Runs the built `softquant` binary with `args` (stdin /dev/null, stdout and stderr captured).
SpawnResult spawn_cli(const std::vector<std::string>& args, const SpawnOptions& options = {});

}  // namespace sq::test
