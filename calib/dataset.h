// Why this exists: calibration and evaluation read the same two kinds of data: a token stream
// (`tokens:FILE.npy`, 1-D int64 cut into non-overlapping windows of `context` tokens) or a folder
// of tensor samples (`inputs:DIR`, one subfolder per sample holding `<input_name>.npy`). A
// SampleSet turns either into model feeds, filling the inputs a token window implies
// (attention_mask of ones, position_ids, empty past_key_values) from the graph's declarations.
#pragma once

#include <string>
#include <vector>

#include "runtime/engine/binding.h"

namespace sq {

struct DataSpec {
  enum class Kind { kTokens, kInputs };
  Kind kind = Kind::kTokens;
  std::string path;
};

// "tokens:FILE.npy" or "inputs:DIR"; a bare .npy path means tokens, a bare folder means inputs.
DataSpec parse_data_spec(const std::string& spec);

// Reads a 1-D int64 (or int32) token file; throws for other shapes, dtypes or an empty file.
std::vector<int64_t> read_token_file(const std::string& path);

class SampleSet {
 public:
  // max_samples <= 0 means all. include_tail keeps a last, shorter token window (evaluation);
  // calibration uses full windows only (unless the stream is shorter than one window).
  static SampleSet load(const DataSpec& spec, const Graph& graph, int64_t context,
                        int64_t max_samples, bool include_tail = false);
  // A token stream already in memory (say, tokenized text), cut into windows as load() cuts a
  // token file; `source` names the stream in sample names and messages.
  static SampleSet from_tokens(const std::vector<int64_t>& ids, const std::string& source,
                               const Graph& graph, int64_t context, int64_t max_samples,
                               bool include_tail = false);

  size_t size() const { return names_.size(); }
  const std::string& name(size_t i) const { return names_[i]; }
  // Feeds for sample i; float tensors are checked for NaN/Inf (sq::Error names sample and tensor).
  TensorMap feeds(size_t i) const;
  // Token windows only: the ids of sample i (for perplexity).
  const std::vector<int64_t>& window(size_t i) const { return windows_[i]; }
  bool is_tokens() const { return kind_ == DataSpec::Kind::kTokens; }

 private:
  DataSpec::Kind kind_ = DataSpec::Kind::kTokens;
  const Graph* graph_ = nullptr;
  std::vector<std::string> names_;
  std::vector<std::string> samples_;            // folder per sample (inputs)
  std::vector<std::vector<int64_t>> windows_;   // token windows (tokens)
};

// Feeds for one token window of a causal LM: input_ids [1,L] plus whatever else the graph
// declares among attention_mask, position_ids and past_key_values.* (empty past).
TensorMap token_window_feeds(const Graph& graph, const std::vector<int64_t>& ids);

// Throws sq::Error naming `what` if a float tensor holds NaN or Inf.
void check_finite(const Tensor& t, const std::string& what);

}  // namespace sq
