#include "models/weight_source.h"

#include <algorithm>
#include <filesystem>

#include "models/synthetic.h"
#include "runtime/graph/onnx_io.h"
#include "runtime/io/npy.h"

namespace sq {

namespace fs = std::filesystem;

std::string transposed_name(const std::string& name) { return name + ".T"; }

namespace {

Shape transpose_shape(const Shape& s) { return {s.at(1), s.at(0)}; }

std::string expected_str(const Shape& shape) { return "float32 " + shape_str(shape); }

// Checks dtype and shape; float16/float64 files are converted to float32.
Tensor checked(Tensor t, const std::string& name, const Shape& shape, const std::string& where) {
  if (t.dtype() == DType::kFloat16 || t.dtype() == DType::kFloat64) {
    t = Tensor::from_vector<float>(t.shape(), t.to_float_vector());
  }
  SQ_CHECK(t.dtype() == DType::kFloat32, "weight '", name, "' in ", where, ": got ",
           dtype_name(t.dtype()), ", expected ", expected_str(shape));
  SQ_CHECK(t.shape() == shape, "weight '", name, "' in ", where, ": got shape ",
           shape_str(t.shape()), ", expected ", expected_str(shape));
  return t;
}

class SyntheticWeights : public WeightSource {
 public:
  explicit SyntheticWeights(uint64_t seed) : seed_(seed) {}
  Tensor fetch(const WeightSpec& spec) override {
    switch (spec.init) {
      case Init::kZeros:
        return Tensor::zeros(DType::kFloat32, spec.shape);
      case Init::kOnes: {
        Tensor t(DType::kFloat32, spec.shape);
        std::fill_n(t.data<float>(), t.numel(), 1.0f);
        return t;
      }
      case Init::kNormal:
        break;
    }
    return normal_tensor(spec.shape, spec.stddev, stream_seed(seed_, spec.name));
  }
  std::string describe() const override { return "synthetic (seed " + std::to_string(seed_) + ")"; }

 private:
  uint64_t seed_;
};

class NpyDirWeights : public WeightSource {
 public:
  explicit NpyDirWeights(std::string dir) : dir_(std::move(dir)) {}
  Tensor fetch(const WeightSpec& spec) override {
    fs::path p = fs::path(dir_) / (spec.name + ".npy");
    std::error_code ec;
    SQ_CHECK(fs::is_regular_file(p, ec), "missing weight '", spec.name, "' (expected ",
             expected_str(spec.shape), " in ", p.string(), ")");
    return checked(read_npy(p.string()), spec.name, spec.shape, p.string());
  }
  std::string describe() const override { return dir_; }

 private:
  std::string dir_;
};

class OnnxWeights : public WeightSource {
 public:
  explicit OnnxWeights(const std::string& path) : path_(path) {
    LoadOptions options;
    options.infer_shapes = false;
    initializers_ = std::move(load_onnx(path, options).graph.initializers);
  }
  Tensor fetch(const WeightSpec& spec) override {
    if (Tensor t; take(spec.name, &t)) return checked(std::move(t), spec.name, spec.shape, path_);
    if (spec.shape.size() == 2) {
      const std::string tname = transposed_name(spec.name);
      if (Tensor t; take(tname, &t)) {
        return transposed_2d(checked(std::move(t), tname, transpose_shape(spec.shape), path_));
      }
    }
    throw make_error("missing weight '", spec.name, "' (expected an initializer of ",
                     expected_str(spec.shape), " in ", path_, ")");
  }
  Tensor fetch_transposed(const WeightSpec& spec) override {
    const std::string tname = transposed_name(spec.name);
    if (Tensor t; take(tname, &t)) {
      return checked(std::move(t), tname, transpose_shape(spec.shape), path_);
    }
    return WeightSource::fetch_transposed(spec);
  }
  std::string describe() const override { return path_; }

 private:
  // Moves the tensor out so its memory is released as soon as the builder is done with it.
  bool take(const std::string& name, Tensor* out) {
    auto it = initializers_.find(name);
    if (it == initializers_.end()) return false;
    *out = std::move(it->second);
    initializers_.erase(it);
    return true;
  }

  std::string path_;
  std::map<std::string, Tensor> initializers_;
};

}  // namespace

Tensor WeightSource::fetch_transposed(const WeightSpec& spec) {
  SQ_CHECK(spec.shape.size() == 2, "weight '", spec.name,
           "': a transposed fetch needs a 2-D shape");
  return transposed_2d(fetch(spec));
}

std::unique_ptr<WeightSource> make_synthetic_weights(uint64_t seed) {
  return std::make_unique<SyntheticWeights>(seed);
}

std::unique_ptr<WeightSource> open_weights(const std::string& path) {
  std::error_code ec;
  if (fs::is_directory(path, ec)) return std::make_unique<NpyDirWeights>(path);
  SQ_CHECK(fs::is_regular_file(path, ec), path,
           ": no such weights folder or file (expected a folder of HF-named .npy files or an "
           ".onnx file)");
  return std::make_unique<OnnxWeights>(path);
}

}  // namespace sq
