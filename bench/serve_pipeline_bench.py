#!/usr/bin/env python3
"""The `transformers` side of the serving benchmark (docs/benchmarks.md, "Serving").

`tests/serve.rs`'s load test sends 2,000 requests from 32 clients to `kindling serve`, cycling
through 15 calls over five texts: for each text, `/predict` on it (entities), `/embed` on it
(mean-pooled, L2-normalized vector) and `/predict` on it with the next text (a list of two).
This script does the same work with `transformers` on the same checkpoint, the way a Python user
would batch it: every `/predict` text through the token-classification pipeline
(`aggregation_strategy="simple"`) at `batch_size=32`, every `/embed` text through `AutoModel`
with mean pooling and normalization in batches of 32. It prints one JSON line: requests, seconds,
requests per second, peak RSS.

`--make-tagger SRC DIR` first writes a token-classification checkpoint: the body in SRC (any
`AutoModel` directory, e.g. all-MiniLM-L6-v2) with a fresh 7-label head (O, B-/I-PER, ORG, LOC),
seed 0, saved with its tokenizer, for a model of real size.
"""

import argparse
import json
import resource
import sys
import time

TEXTS = [
    "the dog barks",
    "the big black dog lives in the yard and the small white cat lives in the house",
    "a happy cow",
    "one two three four five six seven eight nine ten the sheep bleats in the green meadow every "
    "morning and the duck quacks in the pond every evening when the sun comes and the red bird "
    "sings in the tree and the grey horse neighs in the stable",
    "sky",
]
LABELS = ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC"]


def calls():
    """The load test's 15 calls, in order: (route, texts)."""
    out = []
    for i, text in enumerate(TEXTS):
        out.append(("/predict", [text]))
        out.append(("/embed", [text]))
        out.append(("/predict", TEXTS[i : i + 2]))
    return out


def make_tagger(src, dst):
    import torch
    from transformers import AutoModelForTokenClassification, AutoTokenizer

    torch.manual_seed(0)
    model = AutoModelForTokenClassification.from_pretrained(
        src,
        num_labels=len(LABELS),
        id2label=dict(enumerate(LABELS)),
        label2id={l: i for i, l in enumerate(LABELS)},
    )
    model.save_pretrained(dst)
    AutoTokenizer.from_pretrained(src).save_pretrained(dst)
    print(f"wrote {dst}", file=sys.stderr)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model-dir", required=True)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--make-tagger", metavar="SRC")
    args = parser.parse_args()
    if args.make_tagger:
        make_tagger(args.make_tagger, args.model_dir)

    import torch
    from transformers import AutoModel, AutoTokenizer, pipeline

    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(1)
    plan = calls()
    work = [plan[i % len(plan)] for i in range(args.requests)]
    predict_texts = [t for route, texts in work if route == "/predict" for t in texts]
    embed_texts = [t for route, texts in work if route == "/embed" for t in texts]

    tagger = pipeline(
        "token-classification",
        model=args.model_dir,
        aggregation_strategy="simple",
        device="cpu",
    )
    tokenizer = AutoTokenizer.from_pretrained(args.model_dir)
    body = AutoModel.from_pretrained(args.model_dir).eval()
    max_len = min(tokenizer.model_max_length, body.config.max_position_embeddings)

    def embed(texts):
        enc = tokenizer(texts, padding=True, truncation=True, max_length=max_len, return_tensors="pt")
        with torch.inference_mode():
            hidden = body(**enc).last_hidden_state
        mask = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
        return torch.nn.functional.normalize(pooled, dim=-1).tolist()

    # warm-up, untimed
    tagger(TEXTS, batch_size=args.batch_size)
    embed(TEXTS)
    start = time.perf_counter()
    tagger(predict_texts, batch_size=args.batch_size)
    for i in range(0, len(embed_texts), args.batch_size):
        embed(embed_texts[i : i + args.batch_size])
    seconds = time.perf_counter() - start
    print(
        json.dumps(
            {
                "framework": "transformers",
                "torch_version": torch.__version__,
                "model_dir": args.model_dir,
                "requests": args.requests,
                "predict_texts": len(predict_texts),
                "embed_texts": len(embed_texts),
                "batch_size": args.batch_size,
                "threads": args.threads,
                "seconds": seconds,
                "requests_per_s": args.requests / seconds,
                "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
            }
        )
    )


if __name__ == "__main__":
    main()
