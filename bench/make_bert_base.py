#!/usr/bin/env python3
"""Write a BERT-base-shaped checkpoint with random weights, for benchmarking.

Usage: make_bert_base.py DIR

The benchmark (`cargo xtask bench`) needs a BERT-base sized model (12 layers,
hidden 768, 12 heads, intermediate 3072, vocab 30522, ~110M parameters), but
the machines it runs on have no network access, so `bert-base-uncased` cannot
be downloaded. Speed and memory do not depend on the weight values, so a
randomly initialised model of exactly the same shape is an equally good
subject. The weights are seeded (`torch.manual_seed(0)`) so that every run
produces the same file.

DIR receives `config.json` and `model.safetensors` (about 440 MB), written by
`transformers` `save_pretrained`, so both kindling and `transformers` can load
it. The write is atomic: everything goes into `DIR.tmp` first, which is then
renamed onto DIR. If DIR already holds both files, the script prints "exists"
and does nothing.
"""

import argparse
import os
import shutil
import sys

import torch
from transformers import BertConfig, BertModel


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dir", help="output directory (created)")
    args = parser.parse_args()

    out_dir = os.path.abspath(args.dir)
    if os.path.isfile(os.path.join(out_dir, "model.safetensors")) and os.path.isfile(
        os.path.join(out_dir, "config.json")
    ):
        print("exists")
        return 0

    tmp_dir = out_dir + ".tmp"
    if os.path.exists(tmp_dir):
        shutil.rmtree(tmp_dir)

    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=30522,
        hidden_size=768,
        num_hidden_layers=12,
        num_attention_heads=12,
        intermediate_size=3072,
        max_position_embeddings=512,
        type_vocab_size=2,
    )
    model = BertModel(config)  # with pooler, like bert-base-uncased
    model.save_pretrained(tmp_dir, safe_serialization=True)

    # A partial directory left behind by an earlier failed run would block
    # os.replace (it cannot replace a non-empty directory).
    if os.path.isdir(out_dir):
        shutil.rmtree(out_dir)
    os.replace(tmp_dir, out_dir)
    print(f"wrote {out_dir}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
