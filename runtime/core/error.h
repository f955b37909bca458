// Why this exists: every API edge (model load, validation, binding, bad data) reports failure by
// throwing one typed exception whose message is a single line naming what was wrong. The CLI
// catches it and exits non-zero; kernels never throw, they only assert.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>

namespace sq {

class Error : public std::runtime_error {
 public:
  // Line breaks (say, from a tensor name read from a file) become spaces: always one line.
  explicit Error(const std::string& message) : std::runtime_error(one_line(message)) {}

 private:
  static std::string one_line(std::string s) {
    for (char& c : s) {
      if (c == '\n' || c == '\r') c = ' ';
    }
    return s;
  }
};

// Builds a message from any streamable parts: throw make_error("node '", name, "': bad axis").
template <typename... Parts>
Error make_error(Parts&&... parts) {
  std::ostringstream os;
  (os << ... << std::forward<Parts>(parts));
  return Error(os.str());
}

#define SQ_CHECK(cond, ...)                              \
  do {                                                   \
    if (!(cond)) throw ::sq::make_error(__VA_ARGS__);    \
  } while (0)

}  // namespace sq
