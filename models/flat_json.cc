#include "models/flat_json.h"

#include <cctype>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "runtime/core/error.h"

namespace sq {

namespace {

class Parser {
 public:
  Parser(const std::string& text, const std::string& what) : s_(text), what_(what) {}

  std::map<std::string, JsonScalar> object() {
    std::map<std::string, JsonScalar> out;
    expect('{');
    if (peek() == '}') {
      ++i_;
      return end(std::move(out));
    }
    while (true) {
      std::string key = string();
      expect(':');
      out[key] = value();
      char c = next_nonspace();
      if (c == '}') break;
      if (c != ',') fail("expected ',' or '}'");
    }
    return end(std::move(out));
  }

 private:
  std::map<std::string, JsonScalar> end(std::map<std::string, JsonScalar> out) {
    skip_space();
    if (i_ != s_.size()) fail("unexpected text after the object");
    return out;
  }

  [[noreturn]] void fail(const std::string& why) const {
    throw make_error(what_, ": invalid JSON at offset ", i_, ": ", why);
  }
  void skip_space() {
    while (i_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[i_]))) ++i_;
  }
  char peek() {
    skip_space();
    if (i_ >= s_.size()) fail("unexpected end of file");
    return s_[i_];
  }
  char next_nonspace() {
    char c = peek();
    ++i_;
    return c;
  }
  void expect(char c) {
    if (next_nonspace() != c) {
      --i_;
      fail(std::string("expected '") + c + "'");
    }
  }

  std::string string() {
    expect('"');
    std::string out;
    while (true) {
      if (i_ >= s_.size()) fail("unterminated string");
      char c = s_[i_++];
      if (c == '"') return out;
      if (c != '\\') {
        out += c;
        continue;
      }
      if (i_ >= s_.size()) fail("unterminated string");
      char e = s_[i_++];
      switch (e) {
        case 'n':
          out += '\n';
          break;
        case 't':
          out += '\t';
          break;
        case 'r':
          out += '\r';
          break;
        case 'b':
          out += '\b';
          break;
        case 'f':
          out += '\f';
          break;
        case 'u':
          if (i_ + 4 > s_.size()) fail("bad \\u escape");
          i_ += 4;
          out += '?';  // non-ASCII is never needed for config fields
          break;
        default:
          out += e;
      }
    }
  }

  // Skips an array or object, keeping string contents from confusing the bracket count.
  void skip_nested() {
    int depth = 0;
    do {
      if (i_ >= s_.size()) fail("unterminated array or object");
      char c = s_[i_];
      if (c == '"') {
        string();
        continue;
      }
      if (c == '[' || c == '{') ++depth;
      if (c == ']' || c == '}') --depth;
      ++i_;
    } while (depth > 0);
  }

  bool literal(const char* word) {
    size_t n = std::char_traits<char>::length(word);
    if (s_.compare(i_, n, word) != 0) return false;
    i_ += n;
    return true;
  }

  JsonScalar value() {
    JsonScalar v;
    char c = peek();
    if (c == '"') {
      v.kind = JsonScalar::Kind::kString;
      v.text = string();
    } else if (c == '[' || c == '{') {
      v.kind = JsonScalar::Kind::kNested;
      skip_nested();
    } else if (literal("true")) {
      v.kind = JsonScalar::Kind::kBool;
      v.boolean = true;
    } else if (literal("false")) {
      v.kind = JsonScalar::Kind::kBool;
    } else if (literal("null")) {
      v.kind = JsonScalar::Kind::kNull;
    } else {
      size_t start = i_;
      while (i_ < s_.size() && (std::isdigit(static_cast<unsigned char>(s_[i_])) ||
                                std::string("+-.eE").find(s_[i_]) != std::string::npos)) {
        ++i_;
      }
      v.text = s_.substr(start, i_ - start);
      char* endp = nullptr;
      v.number = std::strtod(v.text.c_str(), &endp);
      if (v.text.empty() || endp != v.text.c_str() + v.text.size()) {
        i_ = start;
        fail("expected a value");
      }
      v.kind = JsonScalar::Kind::kNumber;
    }
    return v;
  }

  const std::string& s_;
  const std::string& what_;
  size_t i_ = 0;
};

}  // namespace

std::map<std::string, JsonScalar> parse_flat_json(const std::string& text,
                                                  const std::string& what) {
  return Parser(text, what).object();
}

std::map<std::string, JsonScalar> read_flat_json(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  SQ_CHECK(in.good(), path, ": cannot open (no such file or not readable)");
  std::stringstream ss;
  ss << in.rdbuf();
  return parse_flat_json(ss.str(), path);
}

}  // namespace sq
