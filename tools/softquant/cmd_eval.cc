// `softquant eval`: perplexity of a causal LM over non-overlapping token windows.
#include <cstdio>
#include <iostream>

#include "quantizer/evaluate.h"
#include "runtime/core/json.h"
#include "runtime/graph/onnx_io.h"
#include "tools/softquant/commands.h"

namespace sq::cli {

namespace {

struct EvalArgs {
  std::string model, tokens, engine = "fp32";
  int64_t context = 512, max_windows = 0;
  bool json = false;
  int threads = 2;
};

void eval_command(const EvalArgs& a) {
  auto model = std::make_shared<const Model>(load_onnx(a.model));
  ModelRunner runner(model, parse_engine_kind(a.engine));
  DataSpec spec{DataSpec::Kind::kTokens, a.tokens};
  SampleSet windows = SampleSet::load(spec, model->graph, a.context, a.max_windows, /*include_tail=*/true);
  PerplexityResult r = evaluate_perplexity(runner, windows, a.threads);
  std::printf("perplexity %.4f over %lld predicted tokens in %lld window(s) of up to %lld tokens (engine %s)\n",
              r.perplexity, static_cast<long long>(r.tokens), static_cast<long long>(r.windows),
              static_cast<long long>(a.context), a.engine.c_str());
  if (a.json) {
    Json j = Json::object();
    j.set("perplexity", r.perplexity);
    j.set("tokens", r.tokens);
    j.set("windows", r.windows);
    std::cout << j.dump() << "\n";
  }
}

}  // namespace

void add_eval_command(CLI::App& app) {
  auto a = std::make_shared<EvalArgs>();
  CLI::App* cmd = app.add_subcommand("eval", "Perplexity of a causal LM (ONNX, FP32 or QDQ) on a token file");
  cmd->add_option("model", a->model, "ONNX model with input_ids (and attention_mask) -> logits")->required();
  cmd->add_option("--tokens", a->tokens, "1-D int64 .npy token ids")->required();
  cmd->add_option("--context", a->context, "Tokens per window (non-overlapping)")->default_val(512)->check(CLI::Range(int64_t{2}, int64_t{1} << 20));
  cmd->add_option("--max-windows", a->max_windows, "Evaluate at most K windows (0: all)")->default_val(0);
  cmd->add_option("--engine", a->engine, "fp32 (ops as written) or sim (QDQ simulation)")->default_val("fp32");
  cmd->add_flag("--json", a->json, "Print {\"perplexity\", \"tokens\", \"windows\"} as JSON on the last line");
  cmd->add_option("--threads", a->threads, "Worker threads")->default_val(2)->check(CLI::Range(1, 256));
  cmd->callback([a] { eval_command(*a); });
}

}  // namespace sq::cli
