// `softquant models`: builds OPT decoders and SD v1.5 attention blocks as ONNX files, and writes
// deterministic inputs for them.
#include <chrono>
#include <filesystem>
#include <iostream>
#include <memory>

#include "models/graph_builder.h"
#include "models/opt_builder.h"
#include "models/opt_config.h"
#include "models/sd_attn_builder.h"
#include "runtime/graph/onnx_io.h"
#include "runtime/io/npy.h"
#include "tools/softquant/commands.h"

namespace sq::cli {

namespace {

namespace fs = std::filesystem;

struct OptArgs {
  std::string config = "opt-125m";
  int64_t opset = 14;
  bool kv_cache = false;
  std::string weights;
  uint64_t seed = 0;
  std::string output;
};

struct SdArgs {
  int64_t channels = 320;
  int64_t size = 64;
  bool gelu_op = false;
  int64_t opset = 14;
  std::string weights;
  uint64_t seed = 0;
  std::string output;
};

struct OptInputArgs {
  std::string kv_config;  // non-empty: also write empty past_key_values for this config
  int64_t seq = 0;
  int64_t batch = 1;
  int64_t vocab = 50272;
  uint64_t seed = 0;
  std::string output_dir;
};

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

void save_and_report(const Model& model, const std::string& path,
                     std::chrono::steady_clock::time_point t0) {
  save_onnx(model, path);
  std::cout << "wrote " << path << " (opset " << model.opset() << ", " << model.graph.nodes.size()
            << " nodes, " << std::fixed;
  std::cout.precision(1);
  std::cout << seconds_since(t0) << " s)\n";
}

void build_opt_command(const OptArgs& args) {
  auto t0 = std::chrono::steady_clock::now();
  OptConfig config = opt_config(args.config);
  std::unique_ptr<WeightSource> weights =
      args.weights.empty() ? make_synthetic_weights(args.seed) : open_weights(args.weights);
  std::cout << "config: " << config.summary() << "\n";
  std::cout << "weights: " << weights->describe() << "\n";
  OptBuildOptions options;
  options.opset = args.opset;
  options.kv_cache = args.kv_cache;
  Model model = build_opt(config, options, *weights);
  weights.reset();
  std::cout << "parameters: " << with_thousands(count_parameters(model)) << "\n";
  std::cout << "inputs: input_ids, attention_mask"
            << (args.kv_cache ? ", past_key_values.N.{key,value}" : "") << "; outputs: logits"
            << (args.kv_cache ? ", present.N.{key,value}" : "") << "\n";
  save_and_report(model, args.output, t0);
}

void build_sd_command(const SdArgs& args) {
  auto t0 = std::chrono::steady_clock::now();
  SdAttnOptions options;
  options.channels = args.channels;
  options.size = args.size;
  options.gelu_op = args.gelu_op;
  options.opset = args.opset;
  options.seed = args.seed;
  std::unique_ptr<WeightSource> weights =
      args.weights.empty() ? make_synthetic_weights(args.seed) : open_weights(args.weights);
  std::cout << "weights: " << weights->describe() << "\n";
  Model model = build_sd_attn(options, *weights);
  weights.reset();
  std::cout << "config: SD v1.5 spatial transformer, " << model.metadata["softquant.config"]
            << ", self-attention over " << args.size * args.size << " keys, cross-attention over "
            << kSdContextLength << "\n";
  std::cout << "parameters: " << with_thousands(count_parameters(model)) << "\n";
  save_and_report(model, args.output, t0);
}

void write_inputs(const TensorMap& tensors, const std::string& dir) {
  std::error_code ec;
  if (!fs::exists(dir, ec)) {
    fs::create_directories(dir, ec);
    SQ_CHECK(!ec, dir, ": cannot create output folder (", ec.message(), ")");
  }
  SQ_CHECK(fs::is_directory(dir, ec), dir, ": is not a folder");
  // All files or none (write_npy_files): a full disk leaves no partial set of inputs.
  std::vector<std::pair<std::string, const Tensor*>> files;
  for (const auto& [name, t] : tensors) files.emplace_back((fs::path(dir) / (name + ".npy")).string(), &t);
  write_npy_files(files);
  for (const auto& [path, t] : files) {
    std::cout << fs::path(path).stem().string() << ": " << dtype_name(t->dtype()) << " "
              << shape_str(t->shape()) << " -> " << path << "\n";
  }
}

void add_output_option(CLI::App* cmd, std::string& target, const std::string& what) {
  cmd->add_option("-o,--output", target, what)->required();
}

void add_seed_option(CLI::App* cmd, uint64_t& seed, const std::string& what) {
  cmd->add_option("--seed", seed, what)->default_val(0);
}

CLI::Validator opset_check() { return CLI::IsMember({14, 17}); }

void add_build_commands(CLI::App* build) {
  auto opt = std::make_shared<OptArgs>();
  std::string names;
  for (const auto& n : opt_config_names()) names += (names.empty() ? "" : ", ") + n;
  CLI::App* o = build->add_subcommand(
      "opt",
      "Hugging Face OPTForCausalLM decoder (eager attention). Inputs input_ids, "
      "attention_mask (int64 [batch, sequence]); output logits [batch, sequence, vocab]");
  o->add_option("--config", opt->config,
                "Built-in config (" + names + ") or a Hugging Face config.json")
      ->default_val("opt-125m");
  o->add_option("--opset", opt->opset,
                "14: LayerNorm decomposed as torch exports it; 17: LayerNormalization")
      ->default_val(14)
      ->check(opset_check());
  o->add_flag(
      "--kv-cache", opt->kv_cache,
      "Add Optimum-style past_key_values.N.{key,value} inputs and present.N.{key,value} "
      "outputs [batch, heads, past, head_dim]; attention_mask becomes [batch, past+sequence]");
  o->add_option("--weights", opt->weights,
                "Real weights: a folder of .npy files named as HF names them "
                "(model.decoder.layers.0.fc1.weight.npy, torch layout), or an .onnx file whose "
                "initializers carry those names. Default: synthetic HF init N(0, 0.02)");
  add_seed_option(o, opt->seed, "Seed of the synthetic weights");
  add_output_option(o, opt->output, "Output .onnx file (written atomically)");
  o->callback([opt] { build_opt_command(*opt); });

  auto sd = std::make_shared<SdArgs>();
  CLI::App* s = build->add_subcommand(
      "sd-attn",
      "Stable Diffusion v1.5 spatial-transformer block (GroupNorm, proj_in, self- and "
      "cross-attention with 8 heads, GEGLU feed-forward, proj_out). Inputs latent "
      "[1, C, S, S] and context [1, 77, 768]; output out [1, C, S, S]");
  s->add_option("--channels", sd->channels,
                "C: 320, 640 or 1280 in SD v1.5 (any multiple of 32 is accepted)")
      ->default_val(320)
      ->check(CLI::PositiveNumber);
  s->add_option("--size", sd->size, "S: latent height and width (64, 32, 16 or 8 in SD v1.5)")
      ->default_val(64)
      ->check(CLI::PositiveNumber);
  s->add_flag("--gelu-op", sd->gelu_op,
              "Emit one Gelu node (an ONNX opset-20 op, run by softquant's runtime) instead of "
              "torch's x*0.5*(1+Erf(x/sqrt2))");
  s->add_option("--opset", sd->opset,
                "14: LayerNorm decomposed as torch exports it; 17: LayerNormalization")
      ->default_val(14)
      ->check(opset_check());
  s->add_option(
      "--weights", sd->weights,
      "Real weights: a folder of .npy files named as diffusers names them inside the "
      "Transformer2DModel (transformer_blocks.0.attn1.to_q.weight.npy, torch layout), or "
      "an .onnx file whose initializers carry those names. Default: synthetic, N(0, 0.02) "
      "with to_q/to_k scaled for attention-logit std 2.5");
  add_seed_option(s, sd->seed, "Seed of the synthetic weights");
  add_output_option(s, sd->output, "Output .onnx file (written atomically)");
  s->callback([sd] { build_sd_command(*sd); });
}

void add_inputs_commands(CLI::App* inputs) {
  auto opt = std::make_shared<OptInputArgs>();
  CLI::App* o = inputs->add_subcommand(
      "opt",
      "Write DIR/input_ids.npy (uniform token ids) and DIR/attention_mask.npy (all ones), "
      "int64 [batch, seq]");
  o->add_option("--seq", opt->seq, "Sequence length")->required()->check(CLI::PositiveNumber);
  o->add_option("--batch", opt->batch, "Batch size")->default_val(1)->check(CLI::PositiveNumber);
  o->add_option("--vocab", opt->vocab, "Token ids are drawn from [0, vocab)")
      ->default_val(50272)
      ->check(CLI::PositiveNumber);
  add_seed_option(o, opt->seed, "Seed of the token ids");
  add_output_option(o, opt->output_dir, "Output folder (created if missing)");
  o->add_option("--kv-cache", opt->kv_config,
                "Also write empty past_key_values.N.{key,value} [batch, heads, 0, head_dim] for "
                "a graph built with --kv-cache from this config (a first step: prefill)");
  o->callback([opt] {
    TensorMap t = opt_inputs(opt->batch, opt->seq, opt->vocab, opt->seed);
    if (!opt->kv_config.empty()) {
      const OptConfig c = opt_config(opt->kv_config);
      for (int64_t l = 0; l < c.num_layers; ++l)
        for (bool key : {true, false})
          t[opt_past_name(l, key)] = Tensor(DType::kFloat32, {opt->batch, c.num_heads, 0, c.head_dim()});
    }
    write_inputs(t, opt->output_dir);
  });

  auto sd = std::make_shared<SdArgs>();
  CLI::App* s = inputs->add_subcommand(
      "sd-attn",
      "Write DIR/latent.npy [1, C, S, S] and DIR/context.npy [1, 77, 768], float32 "
      "N(0, 1)");
  s->add_option("--channels", sd->channels, "C")->required()->check(CLI::PositiveNumber);
  s->add_option("--size", sd->size, "S")->required()->check(CLI::PositiveNumber);
  add_seed_option(s, sd->seed, "Seed of the inputs");
  add_output_option(s, sd->output, "Output folder (created if missing)");
  s->callback([sd] { write_inputs(sd_attn_inputs(sd->channels, sd->size, sd->seed), sd->output); });
}

}  // namespace

void add_models_command(CLI::App& app) {
  CLI::App* cmd = app.add_subcommand(
      "models", "Build reference transformer graphs (OPT, SD v1.5 attention blocks) and inputs");
  cmd->require_subcommand(1);
  CLI::App* build = cmd->add_subcommand("build", "Build a model and save it as ONNX");
  build->require_subcommand(1);
  add_build_commands(build);
  CLI::App* inputs = cmd->add_subcommand("inputs", "Write deterministic .npy inputs for a model");
  inputs->require_subcommand(1);
  add_inputs_commands(inputs);
}

}  // namespace sq::cli
