#!/usr/bin/python3
"""Trains, exports and checks the bundled byte-level OPT (models/assets/opt-bytes/).

Why this exists: SoftQuant's softmax bias correction only matters on attention that was learned
from real text (peaked, position-dependent rows), which random or scaled weights do not give.
This script trains a small Hugging Face-compatible OPTForCausalLM (tools/fixtures/torch_models.py)
on English prose from a Debian package (tools/train/corpus.py), then writes everything the C++
side needs: model.onnx (opset 14, large weights stored as float16 + Cast), held-out evaluation and
calibration token files, reference logits for one window, meta.json and README.md.

Run with Debian's /usr/bin/python3 (torch 1.13, numpy, onnx):
  /usr/bin/python3 tools/train/train_opt_bytes.py --steps N           # train + export
  /usr/bin/python3 tools/train/train_opt_bytes.py --benchmark 5       # time 5 steps, exit
  /usr/bin/python3 tools/train/train_opt_bytes.py --export-only       # re-export the checkpoint
Deterministic for a given --threads: fixed seeds, fixed data order.
"""
import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter

# OpenMP threads that spin while waiting lose badly on a machine shared with other jobs; must be
# set before torch loads its OpenMP runtime.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402
import onnx  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "tools", "fixtures"))
sys.path.insert(0, HERE)
import corpus  # noqa: E402
import onnx_fp16  # noqa: E402
import torch_models as tm  # noqa: E402

CONFIG = tm.OPTConfig(vocab_size=256, hidden_size=256, num_hidden_layers=4, num_attention_heads=4,
                      ffn_dim=1024, max_position_embeddings=512, word_embed_proj_dim=256)
OPSET = 14
CONTEXT = 512
CHUNK = 4096          # held-out text is cut in chunks of 8 windows, spread over the corpus
EVAL_CHUNKS = 8       # 32768 evaluation tokens
CALIB_CHUNKS = 4      # 16384 calibration tokens
CHECK_LEN = 64        # reference logits for one window of this many tokens
FP16_MIN_BYTES = 1024
# Options that determine the trained weights (recorded in meta.json's reproduce command).
TRAIN_ARGS = ["steps", "batch", "lr", "lr_floor", "warmup", "weight_decay", "clip", "seed",
              "threads"]


def log(msg: str):
    print(msg, flush=True)


# --------------------------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------------------------

def split_corpus(data: np.ndarray):
    """Cuts EVAL_CHUNKS + CALIB_CHUNKS chunks at evenly spread offsets (every third one is
    calibration); training uses what lies between them. Returns (train segments, eval, calib,
    description)."""
    n_chunks = EVAL_CHUNKS + CALIB_CHUNKS
    n = len(data)
    starts = [int((i + 0.5) * n / n_chunks) // CHUNK * CHUNK for i in range(n_chunks)]
    eval_parts, calib_parts, segments, prev = [], [], [], 0
    for i, s in enumerate(starts):
        (calib_parts if i % 3 == 2 else eval_parts).append(data[s:s + CHUNK])
        segments.append(data[prev:s])
        prev = s + CHUNK
    segments.append(data[prev:])
    regions = {"eval": [[s, s + CHUNK] for i, s in enumerate(starts) if i % 3 != 2],
               "calib": [[s, s + CHUNK] for i, s in enumerate(starts) if i % 3 == 2]}
    return segments, np.concatenate(eval_parts), np.concatenate(calib_parts), regions


class Batches:
    """Random windows of seq+1 bytes that never cross a held-out region."""

    def __init__(self, segments, seq: int, seed: int):
        self.segments = [torch.from_numpy(s.astype(np.int64)) for s in segments
                         if len(s) > seq + 1]
        counts = torch.tensor([len(s) - seq - 1 for s in self.segments], dtype=torch.float64)
        self.weights = counts / counts.sum()
        self.seq = seq
        self.gen = torch.Generator().manual_seed(seed)

    def next(self, batch: int):
        segs = torch.multinomial(self.weights, batch, replacement=True, generator=self.gen)
        rows = []
        for k in segs.tolist():
            s = self.segments[k]
            start = int(torch.randint(0, len(s) - self.seq - 1, (1,), generator=self.gen))
            rows.append(s[start:start + self.seq + 1])
        xy = torch.stack(rows)
        return xy[:, :-1], xy[:, 1:]


# --------------------------------------------------------------------------------------------
# Model
# --------------------------------------------------------------------------------------------

def init_hf(model: tm.OPTForCausalLM):
    """transformers' OPTPreTrainedModel._init_weights: N(0, 0.02), zero biases, zero pad row."""
    for module in model.modules():
        if isinstance(module, torch.nn.Linear):
            torch.nn.init.normal_(module.weight, 0.0, 0.02)
            if module.bias is not None:
                torch.nn.init.zeros_(module.bias)
        elif isinstance(module, torch.nn.Embedding):
            torch.nn.init.normal_(module.weight, 0.0, 0.02)
            if module.padding_idx is not None:
                with torch.no_grad():
                    module.weight[module.padding_idx].zero_()
        elif isinstance(module, torch.nn.LayerNorm):
            torch.nn.init.ones_(module.weight)
            torch.nn.init.zeros_(module.bias)


def param_count(model) -> int:
    return sum(p.numel() for p in model.parameters())  # tied head counted once


@torch.no_grad()
def window_nll(model, tokens: np.ndarray, context: int, max_windows: int = 0, batch: int = 8):
    """Sum of NLL (nats) and count over non-overlapping windows of `context` tokens, every
    predicted token counted (context-1 per full window), as `softquant eval` does."""
    model.eval()
    n_win = len(tokens) // context
    if max_windows:
        n_win = min(n_win, max_windows)
    ids = torch.from_numpy(tokens[:n_win * context].astype(np.int64)).view(n_win, context)
    total, count = 0.0, 0
    for b in range(0, n_win, batch):
        x = ids[b:b + batch]
        logits = model(x, torch.ones_like(x))
        nll = F.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]).double(),
                              x[:, 1:].reshape(-1), reduction="sum")
        total += float(nll)
        count += x[:, 1:].numel()
    return total, count


def perplexity(model, tokens, context=CONTEXT, max_windows=0) -> float:
    total, count = window_nll(model, tokens, context, max_windows)
    return math.exp(total / count)


def lr_at(step: int, steps: int, peak: float, warmup: int, floor: float) -> float:
    if step < warmup:
        return peak * (step + 1) / warmup
    t = (step - warmup) / max(1, steps - warmup)
    return floor * peak + (1 - floor) * peak * 0.5 * (1 + math.cos(math.pi * t))


def train(model, batches: Batches, eval_tokens, args) -> dict:
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": args.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}],
                            lr=args.lr, betas=(0.9, 0.95), eps=1e-8)
    steps = args.benchmark or args.steps
    warmup = max(1, int(args.warmup * steps))
    t0 = time.time()
    window_loss, window_n, last_loss = 0.0, 0, float("nan")
    history = []
    for step in range(steps):
        model.train()
        for g in opt.param_groups:
            g["lr"] = lr_at(step, steps, args.lr, warmup, args.lr_floor)
        x, y = batches.next(args.batch)
        logits = model(x, torch.ones_like(x))
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), args.clip)
        opt.step()
        last_loss = loss.item()
        window_loss += last_loss
        window_n += 1
        done = step + 1
        if args.benchmark:
            log(f"step {done}: loss {last_loss:.4f}, {(time.time() - t0) / done:.2f} s/step")
            continue
        if done % args.log_every == 0 or done == steps:
            mean = window_loss / window_n
            window_loss, window_n = 0.0, 0
            el = time.time() - t0
            msg = (f"step {done}/{steps}: train loss {mean:.4f} nats/byte "
                   f"({mean / math.log(2):.3f} bits), lr {opt.param_groups[0]['lr']:.2e}, "
                   f"{el:.0f} s ({done / el:.3f} steps/s, eta {(steps - done) * el / done:.0f} s)")
            if done % args.eval_every == 0 or done == steps:
                ppl = perplexity(model, eval_tokens, max_windows=args.eval_windows)
                msg += f", held-out ppl {ppl:.3f} ({args.eval_windows} windows)"
                history.append({"step": done, "train_loss": round(mean, 4),
                                "heldout_ppl_subset": round(ppl, 4)})
            log(msg)
    return {"steps": steps, "seconds": time.time() - t0, "final_train_loss": last_loss,
            "history": history}


# --------------------------------------------------------------------------------------------
# Export
# --------------------------------------------------------------------------------------------

def round_fp16_like_onnx(model) -> tm.OPTForCausalLM:
    """A copy whose parameters are rounded to float16 exactly where onnx_fp16 stores float16
    (float32 tensors larger than FP16_MIN_BYTES): the weights the committed ONNX file holds."""
    rounded = tm.OPTForCausalLM(CONFIG)
    rounded.load_state_dict(model.state_dict())
    with torch.no_grad():
        for p in rounded.parameters():
            if p.numel() * 4 > FP16_MIN_BYTES:
                p.copy_(p.half().float())
    rounded.eval()
    return rounded


def check_onnx_weights(rounded_inits: dict, torch_model):
    """Every float16-stored ONNX initializer must equal a rounded torch parameter (or its
    transpose, as constant folding stores Linear weights) bit for bit."""
    params = [p.detach().numpy() for p in torch_model.parameters()]
    for name, arr in rounded_inits.items():
        if not any(arr.shape == p.shape and np.array_equal(arr, p) or
                   arr.shape == p.T.shape and np.array_equal(arr, p.T) for p in params):
            raise SystemExit(f"ONNX initializer {name} {arr.shape} matches no torch parameter")


def export(model, path: str, example_ids):
    model.eval()
    model.use_cache = False
    with tempfile.TemporaryDirectory() as tmp:
        raw = os.path.join(tmp, "fp32.onnx")
        with torch.no_grad():
            torch.onnx.export(model, (example_ids, torch.ones_like(example_ids)), raw,
                              input_names=["input_ids", "attention_mask"],
                              output_names=["logits"], opset_version=OPSET,
                              dynamic_axes={"input_ids": {0: "batch", 1: "sequence"},
                                            "attention_mask": {0: "batch", 1: "sequence"},
                                            "logits": {0: "batch", 1: "sequence"}},
                              do_constant_folding=True)
        fp32_bytes = os.path.getsize(raw)
        tmp_out = path + ".tmp"
        rounded = onnx_fp16.convert_file(raw, tmp_out, FP16_MIN_BYTES)
        os.replace(tmp_out, path)
    m = onnx.load(path)
    ops = Counter(n.op_type for n in m.graph.node)
    return rounded, fp32_bytes, dict(sorted(ops.items()))


def run_ort(model_path: str, check_dir: str):
    """Logits of the committed file in ONNX Runtime (tools/interop), if it is installed."""
    runner = os.path.join(REPO, "tools", "interop", "run_ort.js")
    if not shutil.which("node") or not os.path.isdir(
            os.path.join(REPO, "tools", "interop", "node_modules", "onnxruntime-node")):
        return None
    with tempfile.TemporaryDirectory() as tmp:
        cmd = ["node", runner, model_path, "--output-dir", tmp, "--threads", "1"]
        for name in ("input_ids", "attention_mask"):
            cmd += ["--input", f"{name}={os.path.join(check_dir, name + '.npy')}"]
        res = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if res.returncode != 0:
            log(f"ONNX Runtime check failed: {res.stderr.strip()[-500:]}")
            return None
        return np.load(os.path.join(tmp, "logits.npy"))


def rel_err(a, b) -> float:
    return float(np.max(np.abs(a - b)) / np.max(np.abs(b)))


def write_readme(out: str, meta: dict):
    text = f"""# opt-bytes: a small byte-level OPT trained on English prose

Hugging Face `OPTForCausalLM` architecture (pre-LN, ReLU FFN, learned positions with offset 2,
tied LM head), byte-level vocabulary (token id = byte value, UTF-8 text), 4 layers, d_model 256,
4 heads of 64, FFN 1024, 512 positions; {meta['parameters']:,} parameters. Trained for
{meta['train']['steps']} steps ({meta['train']['tokens_seen']:,} tokens, final train loss
{meta['train']['final_train_loss']:.3f} nats/byte) on {meta['data']['corpus_bytes']:,} bytes of
Python 3.11 documentation prose (tutorial, language reference, HOWTOs, FAQ, what's new; HTML
stripped to paragraphs, code blocks dropped: tools/train/corpus.py) from Debian's
`{meta['data']['package']}` {meta['data']['version']}, license {meta['data']['license']}.

| file | what |
| --- | --- |
| `model.onnx` | opset {OPSET}, inputs `input_ids`, `attention_mask` (int64 [batch, sequence]), output `logits` [batch, sequence, 256]; float tensors above 1 KiB stored as float16 (`NAME_fp16`) followed by `Cast(to=float) -> NAME` |
| `eval_tokens.npy` | {meta['data']['eval_tokens']} held-out tokens (int64), never trained on |
| `calib_tokens.npy` | {meta['data']['calib_tokens']} calibration tokens (int64), disjoint from train and eval |
| `check/` | `input_ids`, `attention_mask` [1, {CHECK_LEN}] (first eval window) and PyTorch's float32 `logits` for the weights as stored |
| `meta.json` | architecture, data source, training run, perplexities, reproduce command |

Held-out perplexity per byte at context {CONTEXT} (non-overlapping windows, every predicted byte
counted): {meta['heldout_ppl']['fp16_stored']:.4f} for the weights as stored
({meta['heldout_ppl']['fp32_trained']:.4f} before float16 rounding).

Reproduce (`apt-get install {meta['data']['package']}` first; training took
{meta['train']['minutes']:.0f} minutes on 2 cores shared with other jobs):
`{meta['reproduce']}`
"""
    with open(os.path.join(out, "README.md"), "w") as f:
        f.write(text)


# --------------------------------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=os.path.join(REPO, "models", "assets", "opt-bytes"))
    ap.add_argument("--checkpoint", default="/tmp/opt-bytes-checkpoint.pt",
                    help="trained weights (not committed), reused by --export-only")
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--lr-floor", type=float, default=0.1, help="final LR / peak LR")
    ap.add_argument("--warmup", type=float, default=0.05, help="warm-up fraction of the steps")
    ap.add_argument("--weight-decay", type=float, default=0.05)
    ap.add_argument("--clip", type=float, default=1.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--log-every", type=int, default=10)
    ap.add_argument("--eval-every", type=int, default=50)
    ap.add_argument("--eval-windows", type=int, default=8, help="windows for periodic evals")
    ap.add_argument("--benchmark", type=int, default=0, help="time this many steps and exit")
    ap.add_argument("--export-only", action="store_true")
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)

    text = corpus.load_text()
    version = corpus.package_version()
    data = np.frombuffer(text, dtype=np.uint8)
    segments, eval_tokens, calib_tokens, regions = split_corpus(data)
    train_bytes = sum(len(s) for s in segments)
    log(f"corpus: {corpus.PACKAGE} {version}, {len(data)} bytes; train {train_bytes}, "
        f"eval {len(eval_tokens)}, calib {len(calib_tokens)}")

    model = tm.OPTForCausalLM(CONFIG)
    init_hf(model)
    log(f"model: {param_count(model):,} parameters")

    if args.export_only:
        ckpt = torch.load(args.checkpoint)
        model.load_state_dict(ckpt["state_dict"])
        run = ckpt["run"]
        for k in TRAIN_ARGS:  # meta.json describes the run that made the checkpoint
            setattr(args, k, ckpt["args"][k])
    else:
        batches = Batches(segments, CONTEXT, args.seed + 1)
        run = train(model, batches, eval_tokens, args)
        if args.benchmark:
            return
        torch.save({"state_dict": model.state_dict(), "run": run, "args": vars(args)},
                   args.checkpoint)
        log(f"saved {args.checkpoint}")
    model.eval()

    os.makedirs(os.path.join(args.out, "check"), exist_ok=True)
    np.save(os.path.join(args.out, "eval_tokens.npy"), eval_tokens.astype(np.int64))
    np.save(os.path.join(args.out, "calib_tokens.npy"), calib_tokens.astype(np.int64))

    ppl_fp32 = perplexity(model, eval_tokens)
    log(f"held-out ppl (fp32 weights, {len(eval_tokens) // CONTEXT} windows of {CONTEXT}): "
        f"{ppl_fp32:.4f}")
    rounded_model = round_fp16_like_onnx(model)
    ppl_fp16 = perplexity(rounded_model, eval_tokens)
    log(f"held-out ppl (weights as stored, fp16-rounded): {ppl_fp16:.4f} "
        f"(change {ppl_fp16 - ppl_fp32:+.5f})")

    check_ids = torch.from_numpy(eval_tokens[:CHECK_LEN].astype(np.int64))[None]
    check_mask = torch.ones_like(check_ids)
    model_path = os.path.join(args.out, "model.onnx")
    rounded_inits, fp32_bytes, ops = export(model, model_path, check_ids)
    check_onnx_weights(rounded_inits, rounded_model)
    size = os.path.getsize(model_path)
    log(f"exported {model_path}: {size / 1e6:.2f} MB (fp32 export {fp32_bytes / 1e6:.2f} MB), "
        f"{len(rounded_inits)} initializers stored as fp16, ops {ops}")
    if size > 10 * 1000 * 1000:
        raise SystemExit("model.onnx is larger than 10 MB")

    check_dir = os.path.join(args.out, "check")
    with torch.no_grad():
        logits = rounded_model(check_ids, check_mask).numpy()
        logits_fp32 = model(check_ids, check_mask).numpy()
    np.save(os.path.join(check_dir, "input_ids.npy"), check_ids.numpy())
    np.save(os.path.join(check_dir, "attention_mask.npy"), check_mask.numpy())
    np.save(os.path.join(check_dir, "logits.npy"), logits.astype(np.float32))
    log(f"check logits: fp16 rounding changes them by {rel_err(logits_fp32, logits):.2e} "
        "(max abs / max abs)")
    ort_logits = run_ort(model_path, check_dir)
    ort_err = None if ort_logits is None else rel_err(ort_logits, logits)
    log("ONNX Runtime on model.onnx vs check logits: "
        + ("not run" if ort_err is None else f"{ort_err:.2e}"))

    reproduce = ("/usr/bin/python3 tools/train/train_opt_bytes.py " + " ".join(
        f"--{k.replace('_', '-')} {getattr(args, k)}" for k in TRAIN_ARGS))
    meta = {
        "name": "opt-bytes",
        "architecture": {"model_type": "opt", "class": "OPTForCausalLM",
                         "implementation": "tools/fixtures/torch_models.py",
                         **CONFIG.to_hf_dict(), "head_dim": CONFIG.hidden_size //
                         CONFIG.num_attention_heads, "tie_word_embeddings": True,
                         "tokenizer": "bytes (token id = UTF-8 byte value)"},
        "parameters": param_count(model),
        "onnx": {"file": "model.onnx", "opset": OPSET, "bytes": size,
                 "inputs": {"input_ids": ["batch", "sequence"],
                            "attention_mask": ["batch", "sequence"]},
                 "outputs": {"logits": ["batch", "sequence", CONFIG.vocab_size]},
                 "float16_storage": f"float tensors > {FP16_MIN_BYTES} bytes as NAME_fp16 + "
                                    "Cast(to=FLOAT) -> NAME",
                 "ops": ops, "torch_version": torch.__version__},
        "data": {"package": corpus.PACKAGE, "version": version, "license": corpus.LICENSE,
                 "copyright_file": corpus.COPYRIGHT_FILE, "html_root": corpus.HTML_ROOT,
                 "sections": corpus.SECTIONS, "corpus_bytes": int(len(data)),
                 "train_bytes": int(train_bytes), "eval_tokens": int(len(eval_tokens)),
                 "calib_tokens": int(len(calib_tokens)),
                 "heldout_regions_bytes": regions},
        "train": {"steps": run["steps"], "batch": args.batch, "context": CONTEXT,
                  "tokens_seen": run["steps"] * args.batch * CONTEXT,
                  "optimizer": f"AdamW betas (0.9, 0.95), weight decay {args.weight_decay} "
                               "on matrices, grad clip " + str(args.clip),
                  "lr": f"peak {args.lr}, linear warm-up {args.warmup:.0%} of steps, cosine to "
                        f"{args.lr_floor} x peak",
                  "seed": args.seed, "threads": args.threads,
                  "seconds": round(run["seconds"], 1), "minutes": round(run["seconds"] / 60, 2),
                  "final_train_loss": round(run["final_train_loss"], 4),
                  "history": run["history"]},
        "heldout_ppl": {"context": CONTEXT, "windows": len(eval_tokens) // CONTEXT,
                        "predicted_tokens": (len(eval_tokens) // CONTEXT) * (CONTEXT - 1),
                        "definition": "exp(mean NLL), non-overlapping windows, every predicted "
                                      "token counted",
                        "fp32_trained": round(ppl_fp32, 6), "fp16_stored": round(ppl_fp16, 6)},
        "check": {"window": f"eval_tokens[0:{CHECK_LEN}]",
                  "logits_from": "PyTorch float32 with the weights as stored (fp16-rounded)",
                  "onnxruntime_rel_err": ort_err},
        "reproduce": reproduce,
    }
    with open(os.path.join(args.out, "meta.json"), "w") as f:
        json.dump(meta, f, indent=1)
        f.write("\n")
    write_readme(args.out, meta)
    log(f"wrote {args.out}")


if __name__ == "__main__":
    main()
