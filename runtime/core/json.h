// Why this exists: encodings files, --json outputs, reports and config.json files need a small
// JSON value type with a parser and a writer; no JSON library is among the project's
// dependencies, and this one is enough (objects keep insertion order for readable output).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace sq {

class Json {
 public:
  enum class Type { kNull, kBool, kNumber, kString, kArray, kObject };

  Json() = default;
  Json(std::nullptr_t) {}
  Json(bool b) : type_(Type::kBool), bool_(b) {}
  Json(double d) : type_(Type::kNumber), number_(d) {}
  Json(int v) : type_(Type::kNumber), number_(v) {}
  Json(int64_t v) : type_(Type::kNumber), number_(static_cast<double>(v)) {}
  Json(size_t v) : type_(Type::kNumber), number_(static_cast<double>(v)) {}
  Json(const char* s) : type_(Type::kString), string_(s) {}
  Json(std::string s) : type_(Type::kString), string_(std::move(s)) {}
  static Json array() { Json j; j.type_ = Type::kArray; return j; }
  static Json object() { Json j; j.type_ = Type::kObject; return j; }

  Type type() const { return type_; }
  bool is_null() const { return type_ == Type::kNull; }
  bool is_number() const { return type_ == Type::kNumber; }
  bool is_string() const { return type_ == Type::kString; }
  bool is_array() const { return type_ == Type::kArray; }
  bool is_object() const { return type_ == Type::kObject; }

  // Accessors throw sq::Error on a type mismatch.
  bool as_bool() const;
  double as_number() const;
  int64_t as_int() const;
  const std::string& as_string() const;
  const std::vector<Json>& items() const;
  const std::vector<std::pair<std::string, Json>>& members() const;

  // Arrays
  Json& push(Json v);
  size_t size() const;
  const Json& operator[](size_t i) const;
  // Objects: set() replaces an existing key; get() returns nullptr when absent.
  Json& set(const std::string& key, Json v);
  const Json* get(const std::string& key) const;
  bool has(const std::string& key) const { return get(key) != nullptr; }
  const Json& at(const std::string& key) const;  // throws when absent

  // indent < 0: compact one line.
  std::string dump(int indent = -1) const;
  // Throws sq::Error naming `what` and the offset on malformed input.
  static Json parse(const std::string& text, const std::string& what = "JSON");

 private:
  void dump_to(std::string& out, int indent, int depth) const;

  Type type_ = Type::kNull;
  bool bool_ = false;
  double number_ = 0;
  std::string string_;
  std::vector<Json> array_;
  std::vector<std::pair<std::string, Json>> object_;
};

}  // namespace sq
