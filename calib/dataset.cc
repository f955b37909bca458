#include "calib/dataset.h"

#include <algorithm>
#include <cmath>
#include <filesystem>

#include "runtime/io/npy.h"

namespace sq {
namespace fs = std::filesystem;

DataSpec parse_data_spec(const std::string& spec) {
  DataSpec d;
  if (spec.rfind("tokens:", 0) == 0) {
    d.kind = DataSpec::Kind::kTokens;
    d.path = spec.substr(7);
  } else if (spec.rfind("inputs:", 0) == 0) {
    d.kind = DataSpec::Kind::kInputs;
    d.path = spec.substr(7);
  } else {
    std::error_code ec;
    d.kind = fs::is_directory(spec, ec) ? DataSpec::Kind::kInputs : DataSpec::Kind::kTokens;
    d.path = spec;
  }
  SQ_CHECK(!d.path.empty(), "data set '", spec, "': expected tokens:FILE.npy or inputs:DIR");
  return d;
}

std::vector<int64_t> read_token_file(const std::string& path) {
  Tensor t = read_npy(path);
  SQ_CHECK(t.dtype() == DType::kInt64 || t.dtype() == DType::kInt32, path,
           ": token file must hold int64 (or int32) ids, got ", dtype_name(t.dtype()));
  SQ_CHECK(t.rank() == 1, path, ": token file must be 1-D, got shape ", shape_str(t.shape()));
  SQ_CHECK(t.numel() > 0, path, ": empty data set (no tokens)");
  std::vector<int64_t> ids = t.to_int64_vector();
  for (size_t i = 0; i < ids.size(); ++i) {
    SQ_CHECK(ids[i] >= 0, path, ": token ", i, " is negative (", ids[i], ")");
  }
  return ids;
}

void check_finite(const Tensor& t, const std::string& what) {
  if (!dtype_is_float(t.dtype())) return;
  for (int64_t i = 0; i < t.numel(); ++i) {
    double v = t.get_as_double(i);
    if (!std::isfinite(v)) {
      throw make_error(what, ": holds ", std::isnan(v) ? "NaN" : "Inf", " at element ", i);
    }
  }
}

TensorMap token_window_feeds(const Graph& graph, const std::vector<int64_t>& ids) {
  const int64_t n = static_cast<int64_t>(ids.size());
  TensorMap feeds;
  for (const auto& vi : graph.inputs) {
    const std::string& name = vi.name;
    if (name == "input_ids") {
      feeds[name] = Tensor::from_vector<int64_t>({1, n}, ids);
    } else if (name == "attention_mask") {
      Tensor m(vi.dtype, {1, n});
      for (int64_t i = 0; i < n; ++i) {
        if (vi.dtype == DType::kInt64) m.data<int64_t>()[i] = 1;
        else if (vi.dtype == DType::kInt32) m.data<int32_t>()[i] = 1;
        else if (vi.dtype == DType::kFloat32) m.data<float>()[i] = 1.f;
        else if (vi.dtype == DType::kBool) m.data<bool>()[i] = true;
        else throw make_error("input 'attention_mask' has unsupported type ", dtype_name(vi.dtype));
      }
      feeds[name] = m;
    } else if (name == "position_ids") {
      std::vector<int64_t> pos(static_cast<size_t>(n));
      for (int64_t i = 0; i < n; ++i) pos[static_cast<size_t>(i)] = i;
      feeds[name] = Tensor::from_vector<int64_t>({1, n}, pos);
    } else if (name.rfind("past_key_values", 0) == 0) {
      SQ_CHECK(vi.has_shape && vi.dims.size() == 4, "input '", name,
               "': expected a 4-D [batch, heads, past, head_dim] declaration");
      Shape shape;
      for (size_t d = 0; d < 4; ++d) {
        const Dim& dim = vi.dims[d];
        if (d == 0) shape.push_back(1);
        else if (d == 2) shape.push_back(0);
        else {
          SQ_CHECK(dim.known(), "input '", name, "': dimension ", d, " must be fixed to make an empty cache");
          shape.push_back(dim.value);
        }
      }
      feeds[name] = Tensor::zeros(vi.dtype, shape);
    } else {
      throw make_error("token data can feed input_ids, attention_mask, position_ids and "
                       "past_key_values.*, but the model also needs input '", name,
                       "': use inputs:DIR instead");
    }
  }
  SQ_CHECK(feeds.count("input_ids"), "token data needs a model input named 'input_ids'");
  return feeds;
}

SampleSet SampleSet::load(const DataSpec& spec, const Graph& graph, int64_t context,
                          int64_t max_samples, bool include_tail) {
  if (spec.kind == DataSpec::Kind::kTokens) {
    return from_tokens(read_token_file(spec.path), spec.path, graph, context, max_samples,
                       include_tail);
  }
  SampleSet set;
  set.kind_ = spec.kind;
  set.graph_ = &graph;
  std::error_code ec;
  SQ_CHECK(fs::is_directory(spec.path, ec), spec.path, ": no such folder (expected inputs:DIR "
           "with one subfolder per sample)");
  std::vector<std::string> dirs;
  for (const auto& entry : fs::directory_iterator(spec.path)) {
    if (entry.is_directory()) dirs.push_back(entry.path().string());
  }
  std::sort(dirs.begin(), dirs.end());
  if (dirs.empty()) {
    // A single sample given as a flat folder of <input>.npy files.
    bool flat = true;
    for (const auto& vi : graph.inputs) flat = flat && fs::exists(fs::path(spec.path) / (vi.name + ".npy"), ec);
    if (flat && !graph.inputs.empty()) dirs.push_back(spec.path);
  }
  SQ_CHECK(!dirs.empty(), spec.path, ": empty data set (no sample subfolders)");
  if (max_samples > 0 && static_cast<int64_t>(dirs.size()) > max_samples) dirs.resize(static_cast<size_t>(max_samples));
  for (const auto& d : dirs) {
    for (const auto& vi : graph.inputs) {
      SQ_CHECK(fs::exists(fs::path(d) / (vi.name + ".npy"), ec), "sample ", d, ": missing ",
               vi.name, ".npy for model input '", vi.name, "'");
    }
    set.samples_.push_back(d);
    set.names_.push_back(d);
  }
  return set;
}

SampleSet SampleSet::from_tokens(const std::vector<int64_t>& ids, const std::string& source,
                                const Graph& graph, int64_t context, int64_t max_samples,
                                bool include_tail) {
  SQ_CHECK(context >= 1, "--context must be at least 1");
  SampleSet set;
  set.kind_ = DataSpec::Kind::kTokens;
  set.graph_ = &graph;
  const int64_t n = static_cast<int64_t>(ids.size());
  int64_t full = n / context;
  int64_t count = full;
  bool tail = (n % context) >= 2 && (include_tail || full == 0);
  if (tail) ++count;
  SQ_CHECK(count > 0, source, ": empty data set (", n, " tokens, need at least 2)");
  if (max_samples > 0) count = std::min(count, max_samples);
  for (int64_t w = 0; w < count; ++w) {
    int64_t b = w * context, e = std::min(n, b + context);
    set.windows_.emplace_back(ids.begin() + b, ids.begin() + e);
    set.names_.push_back(source + " window " + std::to_string(w));
  }
  return set;
}

TensorMap SampleSet::feeds(size_t i) const {
  if (kind_ == DataSpec::Kind::kTokens) return token_window_feeds(*graph_, windows_[i]);
  TensorMap feeds;
  for (const auto& vi : graph_->inputs) {
    std::string path = (fs::path(samples_[i]) / (vi.name + ".npy")).string();
    Tensor t = read_npy(path);
    check_finite(t, "sample " + samples_[i] + ", tensor '" + vi.name + "'");
    feeds[vi.name] = t;
  }
  return feeds;
}

}  // namespace sq
