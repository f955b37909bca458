// Why this exists: `--config config.json` reads the scalar fields of a Hugging Face config.json
// (a flat object; nested arrays/objects such as "architectures" are skipped). A tiny reader here
// avoids a JSON dependency for a dozen numbers and booleans.
#pragma once

#include <map>
#include <string>

namespace sq {

struct JsonScalar {
  enum class Kind { kNumber, kString, kBool, kNull, kNested };
  Kind kind = Kind::kNull;
  double number = 0;
  bool boolean = false;
  std::string text;  // string value, or the raw token for numbers
};

// Parses the top-level object of `text`; throws sq::Error naming `what` and the offset.
std::map<std::string, JsonScalar> parse_flat_json(const std::string& text, const std::string& what);
std::map<std::string, JsonScalar> read_flat_json(const std::string& path);

}  // namespace sq
