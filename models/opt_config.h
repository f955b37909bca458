// Why this exists: the hyper-parameters of an OPT decoder, from a built-in name (opt-125m,
// opt-350m and two small test configs) or from a Hugging Face config.json, plus the analytic
// parameter count that the built graph is checked against.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace sq {

struct OptConfig {
  std::string name;
  int64_t vocab_size = 0;
  int64_t hidden_size = 0;  // d
  int64_t num_layers = 0;
  int64_t num_heads = 0;
  int64_t ffn_dim = 0;
  int64_t max_positions = 0;         // embed_positions has max_positions + 2 rows
  int64_t word_embed_proj_dim = 0;   // != hidden_size adds project_in / project_out
  bool do_layer_norm_before = true;  // pre-LN (and a final LayerNorm) when true
  float layer_norm_eps = 1e-5f;

  int64_t head_dim() const { return hidden_size / num_heads; }
  bool has_projection() const { return word_embed_proj_dim != hidden_size; }
  bool has_final_layer_norm() const { return do_layer_norm_before; }
  // Throws sq::Error naming the first inconsistent field.
  void validate() const;
  // One line: "opt-125m: 12 layers, hidden 768, 12 heads, ffn 3072, vocab 50272, ...".
  std::string summary() const;
};

// Position-embedding rows are offset by 2 (HF OPTLearnedPositionalEmbedding).
inline constexpr int64_t kOptPositionOffset = 2;

std::vector<std::string> opt_config_names();
// A built-in name, or (when `spec` ends in .json or is an existing file) a HF config.json.
OptConfig opt_config(const std::string& spec);
OptConfig opt_config_from_json(const std::string& path);

// Parameters as HF counts them: embed_tokens, embed_positions, project_in/out, all layers, the
// final LayerNorm; the tied LM head once.
int64_t opt_parameter_count(const OptConfig& c);

// 125239296 -> "125,239,296".
std::string with_thousands(int64_t n);

}  // namespace sq
