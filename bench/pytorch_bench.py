#!/usr/bin/env python3
"""PyTorch half of `cargo xtask bench`: time `transformers` on the kindling protocol.

The Rust benchmark binary measures kindling (Burn); this script measures the
same workloads with PyTorch + `transformers`, the yardstick, so the two can be
put side by side. Both halves follow the same protocol:

* Timing: `--warmup` untimed iterations, then timed iterations until at least
  `--min-iters` were done AND their total time is >= `--min-time` seconds,
  stopping at `--max-iters`. Each iteration is timed with `time.perf_counter()`;
  a row reports the median and minimum of the timed iterations and their count.
* Inputs: token ids drawn from `torch.Generator().manual_seed(0)` uniformly in
  [1000, vocab_size), shape [batch, seq], int64; attention mask all ones;
  token type ids all zeros. Full-length sequences, no padding.
* Threads: `--threads N` sets the intra-op thread count (inter-op is 1), for
  PyTorch and ONNX Runtime alike.

Subcommands:

  infer  forward pass of `AutoModel` under `torch.inference_mode()` for every
         (batch, seq) cell, reducing the output to a scalar (`.sum().item()`)
         so the work is really finished. Throughput: tokens per second.
  train  one optimisation step of `AutoModelForTokenClassification` (dropout
         on): loss, backward, gradient clipping at 1.0, AdamW step configured
         like `transformers.Trainer`'s default, zero_grad. Throughput: samples
         per second.
  load   `AutoModel.from_pretrained(dir)` wall time plus one read of every
         parameter (from_pretrained memory-maps safetensors, so without the
         read the weights are not in memory yet), with the file already in the
         page cache and `transformers` already imported. The bare
         from_pretrained median is reported as "from_pretrained_median_s".

`--backend compile` wraps the model in `torch.compile` (default mode,
dynamic=False); compilation happens during the warmup iterations and is not
timed. A cell that fails to compile yields a row with an "error" field and
null timings, and the run goes on.

`--backend int8` (inference only) runs `torch.ao.quantization.quantize_dynamic` over every
`nn.Linear` (qint8 weights with one scale per tensor, PyTorch's default; activations
quantized on the fly): PyTorch's dynamic int8, the counterpart of kindling's `--dtype int8`.

`--backend ort` and `--backend ort-int8` (inference only, CPU only) time ONNX Runtime, the
other thing a user could pick for CPU inference. The `AutoModel` is exported with
`torch.onnx.export(..., dynamo=False)` (opset 17; batch and sequence dynamic; inputs
input_ids, attention_mask and token_type_ids when the model's forward takes them; output
last_hidden_state) into a temporary directory. `ort-int8` then runs
`onnxruntime.quantization.quantize_dynamic(..., weight_type=QuantType.QInt8,
per_channel=True)`: int8 weights with one scale per output channel, as kindling's int8 has
(per-tensor scales, PyTorch's default, ran about 10% faster in ONNX Runtime in one
measurement but lose accuracy: on all-MiniLM-L6-v2 at 8 x 128 with these inputs the mean
cosine of last_hidden_state to f32 was 0.930 against 0.986 per channel, and PyTorch's int8
0.894), activations quantized on the fly to uint8. The export and the
quantization run in a child process, so neither counts in this process's peak memory; the
child checks the exported model against PyTorch eager on a padded batch of another shape
(an f32 export off by more than 1e-3 is an error) and logs the difference. The session is
`onnxruntime.InferenceSession` on the CPUExecutionProvider with every graph optimization
(ORT_ENABLE_ALL), `intra_op_num_threads=--threads` and `inter_op_num_threads=1`; each
iteration is one `session.run` on the same inputs as eager, reduced to a scalar
(`.sum()`) as eager is. Rows name the framework "onnxruntime" and add
"onnxruntime_version".

Output: one JSON object per line (JSON Lines) on stdout per measurement and
nothing else; logs and progress go to stderr. Every row carries "framework",
"backend", "model", "kind", "batch", "seq", "threads", "iters", "median_s",
"min_s", "throughput", "peak_rss_bytes", "rss_after_load_bytes",
"rss_before_load_bytes" and "torch_version" ("load" rows add "bytes", the size
of the weight files, and "from_pretrained_median_s"; their
"rss_after_load_bytes" is null). Peak RSS is the
process high-water mark so far (getrusage ru_maxrss); "rss_before_load_bytes"
is the RSS with torch and transformers imported but no model loaded, i.e. the
runtime's own footprint (several hundred MB for torch alone).

Exit status: 0 on success (even if some cells have error rows), 2 on bad
input (missing model directory or config.json, bad arguments, `train` or `load`
with an inference-only backend, `int8`/`ort`/`ort-int8` with `--device cuda`).
"""

import argparse
import gc
import glob
import inspect
import json
import multiprocessing
import os
import resource
import statistics
import sys
import tempfile
import time

import torch

# Where JSON rows go. main() points this at a private duplicate of the original
# stdout and redirects file descriptor 1 to stderr, so that nothing else
# (library prints, compiler subprocesses) can end up in the JSON stream.
_ROWS = sys.stdout

# RSS of the process with torch and transformers imported but no model loaded
# yet (set in main); the runtime's own footprint, reported in every row.
_RSS_BEFORE_LOAD = None

# The ONNX Runtime backends, and every backend that only runs `infer` on the CPU.
ORT_BACKENDS = ("ort", "ort-int8")
INFERENCE_ONLY = ("int8",) + ORT_BACKENDS


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def emit(row):
    _ROWS.write(json.dumps(row) + "\n")
    _ROWS.flush()


def peak_rss_bytes():
    # Linux reports ru_maxrss in kilobytes. The kernel updates the high-water
    # mark lazily, so it can lag the current RSS slightly; take the larger.
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return max(peak, current_rss_bytes() or 0)


def current_rss_bytes():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return None


def error_text(exc):
    message = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {message[0] if message else ''}"


def time_iterations(fn, warmup, min_iters, min_time, max_iters):
    """Run `fn` on the shared protocol; return the list of timed durations (s)."""
    start = time.perf_counter()
    for _ in range(warmup):
        fn()
    if warmup:
        # For --backend compile this is (mostly) the compile time.
        log(f"  warmup: {warmup} iteration(s) in {time.perf_counter() - start:.3f}s")
    times = []
    total = 0.0
    while len(times) < max_iters and (len(times) < min_iters or total < min_time):
        start = time.perf_counter()
        fn()
        elapsed = time.perf_counter() - start
        times.append(elapsed)
        total += elapsed
    return times


def measure(args, kind, batch, seq, make_step, units, rss_after_load, label):
    """Times the step `make_step()` builds on the shared protocol and emits its row: a timed
    row, or an error row when building or running the step fails (e.g. torch.compile).
    `units` are what one step processes (tokens or samples)."""
    try:
        step = make_step()
        log(f"{label}: batch={batch} seq={seq} ...")
        times = time_iterations(step, args.warmup, args.min_iters, args.min_time, args.max_iters)
    except Exception as exc:
        log(f"{label}: batch={batch} seq={seq} failed: {error_text(exc)}")
        emit(error_row(args, kind, batch, seq, exc, rss_after_load))
        return
    emit(timed_row(args, kind, batch, seq, times, units, rss_after_load))


def base_row(args, kind, batch, seq):
    ort = args.backend in ORT_BACKENDS
    row = {
        "framework": "onnxruntime" if ort else "pytorch",
        "backend": args.backend if args.device == "cpu" else f"{args.backend}:{args.device}",
        "model": args.model,
        "kind": kind,
        "batch": batch,
        "seq": seq,
        "threads": args.threads,
        "torch_version": torch.__version__,
        "rss_before_load_bytes": _RSS_BEFORE_LOAD,
    }
    if ort:
        import onnxruntime

        row["onnxruntime_version"] = onnxruntime.__version__
    return row


def timed_row(args, kind, batch, seq, times, units, rss_after_load):
    """A row for a successful measurement; `units` is work per iteration."""
    median = statistics.median(times)
    row = base_row(args, kind, batch, seq)
    row.update(
        iters=len(times),
        median_s=median,
        min_s=min(times),
        throughput=units / median if units is not None else None,
        peak_rss_bytes=peak_rss_bytes(),
        rss_after_load_bytes=rss_after_load,
    )
    return row


def error_row(args, kind, batch, seq, exc, rss_after_load):
    row = base_row(args, kind, batch, seq)
    row.update(
        iters=0,
        median_s=None,
        min_s=None,
        throughput=None,
        peak_rss_bytes=peak_rss_bytes(),
        rss_after_load_bytes=rss_after_load,
        error=exc if isinstance(exc, str) else error_text(exc),
    )
    return row


def touch_parameters(model):
    """Read every parameter once.

    `from_pretrained` memory-maps model.safetensors and the parameters are
    zero-copy views of that mapping, so right after the call the weights are
    not resident yet: pages come in on first use. Reading them makes the model
    really loaded (and makes the RSS reflect the weights)."""
    with torch.no_grad():
        for param in model.parameters():
            param.sum()


def make_inputs(vocab_size, batch, seq, device="cpu"):
    gen = torch.Generator().manual_seed(0)
    # [1000, vocab) as the kindling half draws them (a tiny test vocabulary starts lower).
    low = min(1000, vocab_size - 1)
    input_ids = torch.randint(low, vocab_size, (batch, seq), generator=gen, dtype=torch.int64)
    attention_mask = torch.ones(batch, seq, dtype=torch.int64)
    token_type_ids = torch.zeros(batch, seq, dtype=torch.int64)
    # Built on the CPU generator (same ids everywhere), then moved; `.item()` at the end of an
    # iteration synchronizes a GPU, so timings include the whole forward.
    return input_ids.to(device), attention_mask.to(device), token_type_ids.to(device), gen


def parse_int_list(text):
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}")
    if not values or any(v <= 0 for v in values):
        raise argparse.ArgumentTypeError(f"expected positive integers, got {text!r}")
    return values


def compile_model(model):
    # Start every compiled model from a clean Dynamo cache: with dynamic=False
    # each new input shape is a recompile, and past the recompile limit (8)
    # Dynamo silently falls back to eager, which would corrupt a large grid.
    torch._dynamo.reset()
    return torch.compile(model, dynamic=False)


# --------------------------------------------------------------------------
# infer


def run_infer(args):
    if args.backend in ORT_BACKENDS:
        return run_infer_ort(args)
    from transformers import AutoModel

    model = AutoModel.from_pretrained(args.model_dir, dtype=torch.float32).to(args.device)
    model.eval()
    if args.backend == "int8":
        model = torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)
    touch_parameters(model)
    rss_after_load = current_rss_bytes()
    config = model.config
    max_pos = getattr(config, "max_position_embeddings", None)

    for batch in args.batches:
        for seq in args.seqs:
            if max_pos is not None and seq > max_pos:
                log(f"infer: skipping batch={batch} seq={seq} (> max_position_embeddings={max_pos})")
                continue
            input_ids, attention_mask, token_type_ids, _ = make_inputs(
                config.vocab_size, batch, seq, args.device
            )
            def make_step():
                runner = compile_model(model) if args.backend == "compile" else model

                def step():
                    with torch.inference_mode():
                        out = runner(
                            input_ids=input_ids,
                            attention_mask=attention_mask,
                            token_type_ids=token_type_ids,
                        )
                        out.last_hidden_state.sum().item()

                return step

            measure(args, "inference", batch, seq, make_step, batch * seq, rss_after_load,
                    "infer")


# --------------------------------------------------------------------------
# infer with ONNX Runtime


def body_input_names(model):
    """The inputs the exported body takes: token_type_ids only where forward has it."""
    names = ["input_ids", "attention_mask"]
    if "token_type_ids" in inspect.signature(model.forward).parameters:
        names.append("token_type_ids")
    return names


def export_onnx(model_dir, out_dir, int8, threads):
    """Export `AutoModel` to `out_dir/model.onnx` (and, with `int8`, quantize it into
    `out_dir/model-int8.onnx`), then check the result against PyTorch eager.

    Runs in a child process (see run_infer_ort), so the PyTorch model and the export's
    memory never count in the timing process's peak RSS."""
    import numpy as np
    import onnxruntime
    from transformers import AutoModel

    torch.set_num_threads(threads)
    model = AutoModel.from_pretrained(model_dir, dtype=torch.float32)
    model.eval()
    names = body_input_names(model)

    class Body(torch.nn.Module):
        """The body with positional inputs and last_hidden_state as its only output."""

        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, *inputs):
            return self.inner(**dict(zip(names, inputs))).last_hidden_state

    body = Body(model).eval()
    vocab = model.config.vocab_size
    # A small example batch; batch and sequence are dynamic axes.
    example = make_inputs(vocab, 2, 16)[: len(names)]
    f32_path = os.path.join(out_dir, "model.onnx")
    start = time.perf_counter()
    with torch.no_grad():
        torch.onnx.export(
            body,
            tuple(example),
            f32_path,
            input_names=names,
            output_names=["last_hidden_state"],
            dynamic_axes={n: {0: "batch", 1: "seq"} for n in names + ["last_hidden_state"]},
            opset_version=17,
            dynamo=False,
        )
    log(f"ort: exported in {time.perf_counter() - start:.1f}s ({os.path.getsize(f32_path) / 1e6:.0f} MB)")
    path = f32_path
    if int8:
        from onnxruntime.quantization import QuantType, quantize_dynamic

        path = os.path.join(out_dir, "model-int8.onnx")
        start = time.perf_counter()
        quantize_dynamic(f32_path, path, weight_type=QuantType.QInt8, per_channel=True)
        log(f"ort: quantized (int8, per channel) in {time.perf_counter() - start:.1f}s "
            f"({os.path.getsize(path) / 1e6:.0f} MB)")

    # Check on another shape than the example's, with padding in the second row, at the
    # positions that are not padding.
    input_ids, attention_mask, token_type_ids, _ = make_inputs(vocab, 2, 24)
    attention_mask[1, 16:] = 0
    inputs = [input_ids, attention_mask, token_type_ids][: len(names)]
    with torch.inference_mode():
        want = body(*inputs).numpy()
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    session = onnxruntime.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    # The exporter drops an input the graph does not use (token_type_ids of a DeBERTa
    # without token types), so feed only the ones the session takes.
    taken = {i.name for i in session.get_inputs()}
    feed = {n: t.numpy() for n, t in zip(names, inputs) if n in taken}
    got = session.run(["last_hidden_state"], feed)[0]
    keep = attention_mask.numpy().astype(bool)
    want, got = want[keep], got[keep]
    max_diff = float(np.abs(want - got).max())
    cosine = float(np.mean(
        (want * got).sum(-1) / (np.linalg.norm(want, axis=-1) * np.linalg.norm(got, axis=-1))
    ))
    log(f"ort: against PyTorch eager (2 x 24, padded): max |diff| {max_diff:.3g}, mean cosine {cosine:.4f}")
    if not int8 and not max_diff <= 1e-3:
        raise RuntimeError(f"the ONNX export differs from PyTorch eager by {max_diff:.3g} (> 1e-3)")


def run_infer_ort(args):
    import onnxruntime
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(args.model_dir)
    max_pos = getattr(config, "max_position_embeddings", None)
    cells = []
    for batch in args.batches:
        for seq in args.seqs:
            if max_pos is not None and seq > max_pos:
                log(f"infer: skipping batch={batch} seq={seq} (> max_position_embeddings={max_pos})")
                continue
            cells.append((batch, seq))
    int8 = args.backend == "ort-int8"
    log(f"onnxruntime {onnxruntime.__version__}")

    with tempfile.TemporaryDirectory(prefix="kindling-ort-") as tmp:
        try:
            child = multiprocessing.get_context("spawn").Process(
                target=export_onnx, args=(args.model_dir, tmp, int8, args.threads)
            )
            child.start()
            child.join()
            if child.exitcode != 0:
                raise RuntimeError(f"the ONNX export failed (exit {child.exitcode}; see the log above)")
            options = onnxruntime.SessionOptions()
            options.intra_op_num_threads = args.threads
            options.inter_op_num_threads = 1
            options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
            options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
            session = onnxruntime.InferenceSession(
                os.path.join(tmp, "model-int8.onnx" if int8 else "model.onnx"),
                options,
                providers=["CPUExecutionProvider"],
            )
        except Exception as exc:
            log(f"infer: {args.backend} failed: {error_text(exc)}")
            for batch, seq in cells:
                emit(error_row(args, "inference", batch, seq, exc, None))
            return
        rss_after_load = current_rss_bytes()
        names = [i.name for i in session.get_inputs()]

        for batch, seq in cells:
            input_ids, attention_mask, token_type_ids, _ = make_inputs(config.vocab_size, batch, seq)
            given = {
                "input_ids": input_ids.numpy(),
                "attention_mask": attention_mask.numpy(),
                "token_type_ids": token_type_ids.numpy(),
            }
            feed = {n: given[n] for n in names}
            def step():
                out = session.run(["last_hidden_state"], feed)[0]
                float(out.sum())

            measure(args, "inference", batch, seq, lambda: step, batch * seq, rss_after_load,
                    "infer")


# --------------------------------------------------------------------------
# train


def trainer_param_groups(model, weight_decay=0.01):
    """AdamW parameter groups as `transformers.Trainer` builds them by default:
    no weight decay on biases and LayerNorm weights."""
    decay, no_decay = [], []
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        lowered = name.lower()
        if "bias" in lowered or "layernorm" in lowered or "layer_norm" in lowered:
            no_decay.append(param)
        else:
            decay.append(param)
    return [
        {"params": decay, "weight_decay": weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]


def run_train(args):
    from transformers import AutoModelForTokenClassification

    batch, seq = args.batch, args.seq
    torch.manual_seed(0)  # the new classification head is initialised randomly
    model = AutoModelForTokenClassification.from_pretrained(
        args.model_dir, num_labels=args.num_labels, dtype=torch.float32
    ).to(args.device)
    model.train()
    touch_parameters(model)
    rss_after_load = current_rss_bytes()
    config = model.config
    max_pos = getattr(config, "max_position_embeddings", None)
    if max_pos is not None and seq > max_pos:
        emit(error_row(args, "train", batch, seq,
                       f"ValueError: seq {seq} > max_position_embeddings {max_pos}", rss_after_load))
        return

    input_ids, attention_mask, token_type_ids, gen = make_inputs(
        config.vocab_size, batch, seq, args.device
    )
    labels = torch.randint(0, args.num_labels, (batch, seq), generator=gen, dtype=torch.int64).to(
        args.device
    )
    opt = torch.optim.AdamW(trainer_param_groups(model), lr=5e-5, betas=(0.9, 0.999), eps=1e-8)

    def make_step():
        runner = compile_model(model) if args.backend == "compile" else model

        def step():
            loss = runner(
                input_ids=input_ids,
                attention_mask=attention_mask,
                token_type_ids=token_type_ids,
                labels=labels,
            ).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            opt.zero_grad(set_to_none=True)
            loss.item()

        return step

    measure(args, "train", batch, seq, make_step, batch, rss_after_load, "train")


# --------------------------------------------------------------------------
# load


def weight_files(model_dir):
    files = sorted(glob.glob(os.path.join(model_dir, "*.safetensors")))
    if not files:
        files = sorted(glob.glob(os.path.join(model_dir, "pytorch_model*.bin")))
    return files


def run_load(args):
    if args.backend != "eager":
        emit(error_row(args, "load", None, None,
                       "ValueError: load is only measured with --backend eager", None))
        return
    from transformers import AutoModel

    # A full load is from_pretrained plus one read of every parameter: the
    # safetensors file is memory-mapped, so from_pretrained alone returns
    # before the weights are in memory (see touch_parameters). The bare
    # from_pretrained time is reported too, as "from_pretrained_median_s".
    full_times, bare_times = [], []
    for i in range(args.repeats + 1):  # the first, untimed, fills the page cache
        start = time.perf_counter()
        model = AutoModel.from_pretrained(args.model_dir, dtype=torch.float32)
        loaded = time.perf_counter()
        touch_parameters(model)
        done = time.perf_counter()
        del model
        gc.collect()
        if i == 0:
            log(f"load: warm-up load (untimed) {done - start:.3f}s")
            continue
        full_times.append(done - start)
        bare_times.append(loaded - start)
        log(f"load: {i}/{args.repeats} {full_times[-1]:.3f}s (from_pretrained {bare_times[-1]:.3f}s)")

    row = timed_row(args, "load", None, None, full_times, None, None)
    row["bytes"] = sum(os.path.getsize(f) for f in weight_files(args.model_dir))
    row["from_pretrained_median_s"] = statistics.median(bare_times)
    emit(row)


# --------------------------------------------------------------------------


def build_parser():
    parser = argparse.ArgumentParser(
        description="PyTorch half of `cargo xtask bench` (JSON Lines on stdout)."
    )
    parser.add_argument("--model-dir", required=True, help="transformers checkpoint directory (BERT family)")
    parser.add_argument("--model", required=True, help="label copied into every row, e.g. bert-base")
    parser.add_argument("--threads", type=int, default=1, help="intra-op threads (default 1)")
    parser.add_argument(
        "--backend",
        choices=["eager", "compile", "int8", "ort", "ort-int8"],
        default="eager",
        help="eager, compile, int8 (PyTorch dynamic int8), ort, ort-int8 (ONNX Runtime f32 and "
        "dynamic int8); the last three run infer only, on the CPU",
    )
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu",
                        help="where the model runs (rows name it as eager:cuda / compile:cuda)")
    parser.add_argument("--min-time", type=float, default=3.0, help="seconds of timed work at least (default 3.0)")
    parser.add_argument("--min-iters", type=int, default=2, help="timed iterations at least (default 2)")
    parser.add_argument("--max-iters", type=int, default=20, help="timed iterations at most (default 20)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed iterations first (default 1)")

    sub = parser.add_subparsers(dest="command", required=True)
    infer = sub.add_parser("infer", help="forward-pass latency/throughput grid")
    infer.add_argument("--batches", type=parse_int_list, default=[1, 8, 32], help="e.g. 1,8,32")
    infer.add_argument("--seqs", type=parse_int_list, default=[32, 128, 512], help="e.g. 32,128,512")

    train = sub.add_parser("train", help="token-classification training step")
    train.add_argument("--batch", type=int, default=8)
    train.add_argument("--seq", type=int, default=128)
    train.add_argument("--num-labels", type=int, default=9)

    load = sub.add_parser("load", help="from_pretrained wall time")
    load.add_argument("--repeats", type=int, default=5)
    return parser


def main():
    global _ROWS, _RSS_BEFORE_LOAD
    args = build_parser().parse_args()

    # Threads first, before any torch work starts the thread pools.
    if args.threads < 1:
        log(f"error: --threads must be >= 1, got {args.threads}")
        return 2
    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(1)

    model_dir = args.model_dir
    if not os.path.isdir(model_dir):
        log(f"error: model directory not found: {model_dir}")
        return 2
    if not os.path.isfile(os.path.join(model_dir, "config.json")):
        log(f"error: no config.json in model directory: {model_dir}")
        return 2
    if args.command == "load" and not weight_files(model_dir):
        log(f"error: no model.safetensors or pytorch_model.bin in: {model_dir}")
        return 2
    if args.min_iters < 1 or args.max_iters < args.min_iters or args.warmup < 0:
        log("error: need 1 <= --min-iters <= --max-iters and --warmup >= 0")
        return 2
    if args.command == "load" and args.repeats < 1:
        log(f"error: --repeats must be >= 1, got {args.repeats}")
        return 2
    if args.backend in INFERENCE_ONLY and args.command != "infer":
        log(f"error: --backend {args.backend} measures inference only (infer), not {args.command}")
        return 2
    if args.backend in INFERENCE_ONLY and args.device != "cpu":
        log(f"error: --backend {args.backend} runs on the CPU only, not --device {args.device}")
        return 2
    if args.backend in ORT_BACKENDS:
        try:
            import onnxruntime  # noqa: F401
            import onnx  # noqa: F401
        except ImportError as exc:
            log(f"error: --backend {args.backend} needs onnxruntime and onnx "
                f"(tests/fixtures/requirements.txt): {exc}")
            return 2

    # Keep stdout for JSON rows only: rows go to a private copy of fd 1, and fd 1
    # itself (used by print, C extensions and compiler subprocesses) now goes to
    # stderr.
    sys.stdout.flush()
    _ROWS = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    sys.stdout = sys.stderr

    import transformers

    transformers.utils.logging.disable_progress_bar()
    _RSS_BEFORE_LOAD = current_rss_bytes()
    log(f"torch {torch.__version__}, transformers {transformers.__version__}, threads {torch.get_num_threads()}")

    {"infer": run_infer, "train": run_train, "load": run_load}[args.command](args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
