#include "models/opt_config.h"

#include <cmath>
#include <filesystem>

#include "models/flat_json.h"
#include "runtime/core/error.h"

namespace sq {

namespace {

OptConfig make(const std::string& name, int64_t layers, int64_t d, int64_t heads, int64_t ffn,
               int64_t vocab, int64_t max_pos, int64_t proj_dim, bool pre_ln) {
  OptConfig c;
  c.name = name;
  c.num_layers = layers;
  c.hidden_size = d;
  c.num_heads = heads;
  c.ffn_dim = ffn;
  c.vocab_size = vocab;
  c.max_positions = max_pos;
  c.word_embed_proj_dim = proj_dim;
  c.do_layer_norm_before = pre_ln;
  return c;
}

std::vector<OptConfig> builtin_configs() {
  return {
      make("opt-125m", 12, 768, 12, 3072, 50272, 2048, 768, true),
      make("opt-350m", 24, 1024, 16, 4096, 50272, 2048, 512, false),
      make("opt-tiny", 2, 64, 4, 256, 256, 128, 64, true),
      make("opt-small", 4, 256, 4, 1024, 256, 512, 256, true),
  };
}

int64_t json_int(const std::map<std::string, JsonScalar>& j, const std::string& key,
                 const std::string& path, bool required, int64_t def) {
  auto it = j.find(key);
  if (it == j.end() || it->second.kind == JsonScalar::Kind::kNull) {
    SQ_CHECK(!required, path, ": missing field '", key, "' (expected a positive integer)");
    return def;
  }
  const JsonScalar& v = it->second;
  SQ_CHECK(v.kind == JsonScalar::Kind::kNumber && v.number == std::floor(v.number) &&
               v.number > 0 && v.number < 1e12,
           path, ": field '", key, "' must be a positive integer");
  return static_cast<int64_t>(v.number);
}

}  // namespace

void OptConfig::validate() const {
  auto positive = [&](int64_t v, const char* field) {
    SQ_CHECK(v > 0, "OPT config '", name, "': ", field, " must be positive, got ", v);
  };
  positive(vocab_size, "vocab_size");
  positive(hidden_size, "hidden_size");
  positive(num_layers, "num_hidden_layers");
  positive(num_heads, "num_attention_heads");
  positive(ffn_dim, "ffn_dim");
  positive(max_positions, "max_position_embeddings");
  positive(word_embed_proj_dim, "word_embed_proj_dim");
  SQ_CHECK(hidden_size % num_heads == 0, "OPT config '", name, "': hidden_size ", hidden_size,
           " is not divisible by num_attention_heads ", num_heads);
}

std::string OptConfig::summary() const {
  std::string s = name + ": " + std::to_string(num_layers) + " layers, hidden " +
                  std::to_string(hidden_size) + ", " + std::to_string(num_heads) + " heads, ffn " +
                  std::to_string(ffn_dim) + ", vocab " + std::to_string(vocab_size) +
                  ", max positions " + std::to_string(max_positions);
  if (has_projection()) s += ", word_embed_proj_dim " + std::to_string(word_embed_proj_dim);
  s += do_layer_norm_before ? ", pre-LN" : ", post-LN";
  return s;
}

std::vector<std::string> opt_config_names() {
  std::vector<std::string> names;
  for (const auto& c : builtin_configs()) names.push_back(c.name);
  return names;
}

OptConfig opt_config(const std::string& spec) {
  for (const auto& c : builtin_configs()) {
    if (c.name == spec) return c;
  }
  std::error_code ec;
  bool is_json = spec.size() > 5 && spec.compare(spec.size() - 5, 5, ".json") == 0;
  if (is_json || std::filesystem::is_regular_file(spec, ec)) return opt_config_from_json(spec);
  std::string names;
  for (const auto& n : opt_config_names()) names += (names.empty() ? "" : ", ") + n;
  throw make_error("unknown OPT config '", spec, "' (expected one of ", names,
                   ", or a Hugging Face config.json)");
}

OptConfig opt_config_from_json(const std::string& path) {
  auto j = read_flat_json(path);
  OptConfig c;
  // "<dir>/config.json" is named after its folder, as HF checkpoints are.
  const std::filesystem::path p = std::filesystem::path(path).lexically_normal();
  c.name =
      p.filename() == "config.json" && p.has_parent_path() && !p.parent_path().filename().empty()
          ? p.parent_path().filename().string()
          : p.filename().string();
  c.vocab_size = json_int(j, "vocab_size", path, true, 0);
  c.hidden_size = json_int(j, "hidden_size", path, true, 0);
  c.num_layers = json_int(j, "num_hidden_layers", path, true, 0);
  c.num_heads = json_int(j, "num_attention_heads", path, true, 0);
  c.ffn_dim = json_int(j, "ffn_dim", path, true, 0);
  c.max_positions = json_int(j, "max_position_embeddings", path, true, 0);
  c.word_embed_proj_dim = json_int(j, "word_embed_proj_dim", path, false, c.hidden_size);
  if (auto it = j.find("do_layer_norm_before"); it != j.end()) {
    SQ_CHECK(it->second.kind == JsonScalar::Kind::kBool, path,
             ": field 'do_layer_norm_before' must be true or false");
    c.do_layer_norm_before = it->second.boolean;
  }
  // Variants this builder does not implement are refused rather than silently mis-built.
  if (auto it = j.find("activation_function"); it != j.end()) {
    SQ_CHECK(it->second.kind == JsonScalar::Kind::kString && it->second.text == "relu", path,
             ": field 'activation_function' must be \"relu\" (the only OPT activation supported)");
  }
  for (const char* key : {"enable_bias", "layer_norm_elementwise_affine"}) {
    if (auto it = j.find(key); it != j.end()) {
      SQ_CHECK(it->second.kind == JsonScalar::Kind::kBool && it->second.boolean, path, ": field '",
               key, "' must be true (other variants are not supported)");
    }
  }
  if (auto it = j.find("_remove_final_layer_norm"); it != j.end()) {
    SQ_CHECK(it->second.kind == JsonScalar::Kind::kBool && !it->second.boolean, path,
             ": field '_remove_final_layer_norm' must be false (not supported)");
  }
  c.validate();
  return c;
}

int64_t opt_parameter_count(const OptConfig& c) {
  const int64_t d = c.hidden_size, e = c.word_embed_proj_dim, f = c.ffn_dim;
  int64_t n = c.vocab_size * e + (c.max_positions + kOptPositionOffset) * d;
  if (c.has_projection()) n += 2 * d * e;                 // project_in, project_out (no bias)
  const int64_t per_layer = 4 * (d * d + d)               // q, k, v, out projections
                            + 2 * (2 * d)                 // self_attn_layer_norm, final_layer_norm
                            + (d * f + f) + (f * d + d);  // fc1, fc2
  n += c.num_layers * per_layer;
  if (c.has_final_layer_norm()) n += 2 * d;
  return n;
}

std::string with_thousands(int64_t n) {
  std::string digits = std::to_string(n < 0 ? -n : n);
  std::string out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return n < 0 ? "-" + out : out;
}

}  // namespace sq
