#!/usr/bin/env python3
"""Write a checkpoint of a published model's shape with random weights, for benchmarking.

Usage: make_model.py [--shape bert-base|distilbert-base|electra-small|deberta-v3-base|modernbert-base] DIR

Shapes: `bert-base` (bert-base-uncased), `distilbert-base` (distilbert-base-uncased: 6 layers,
hidden 768, sinusoidal positions off as published), `electra-small`
(google/electra-small-discriminator: embedding 128 projected to hidden 256, 12 layers, 4 heads),
`deberta-v3-base` (microsoft/deberta-v3-base: 12 layers, hidden 768, 256 log buckets, shared
keys, p2c + c2p, vocab 128100; max_position_embeddings raised to 2048 so the 1 x 2048 cell
runs) and `modernbert-base` (answerdotai/ModernBERT-base: 22 layers, hidden 768, GeGLU 1152,
window 128 with a global layer every third, 8192 positions).

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
from transformers import (BertConfig, BertModel, DebertaV2Config, DebertaV2Model,
                          DistilBertConfig, DistilBertModel, ElectraConfig, ElectraModel,
                          ModernBertConfig, ModernBertModel)


def build(shape: str):
    """The randomly initialised model of `shape` (seeded by the caller)."""
    if shape == "bert-base":
        config = BertConfig(
            vocab_size=30522,
            hidden_size=768,
            num_hidden_layers=12,
            num_attention_heads=12,
            intermediate_size=3072,
            max_position_embeddings=512,
            type_vocab_size=2,
        )
        return BertModel(config)  # with pooler, like bert-base-uncased
    if shape == "distilbert-base":
        config = DistilBertConfig(vocab_size=30522, dim=768, n_layers=6, n_heads=12,
                                  hidden_dim=3072, max_position_embeddings=512)
        return DistilBertModel(config)
    if shape == "electra-small":
        config = ElectraConfig(vocab_size=30522, embedding_size=128, hidden_size=256,
                               num_hidden_layers=12, num_attention_heads=4,
                               intermediate_size=1024, max_position_embeddings=512)
        return ElectraModel(config)
    if shape == "deberta-v3-base":
        config = DebertaV2Config(vocab_size=128100, hidden_size=768, num_hidden_layers=12,
                                 num_attention_heads=12, intermediate_size=3072,
                                 max_position_embeddings=2048, relative_attention=True,
                                 position_buckets=256, max_relative_positions=-1,
                                 norm_rel_ebd="layer_norm", share_att_key=True,
                                 pos_att_type=["p2c", "c2p"], position_biased_input=False,
                                 type_vocab_size=0, layer_norm_eps=1e-7, pad_token_id=0)
        return DebertaV2Model(config)
    if shape == "modernbert-base":
        config = ModernBertConfig(vocab_size=50368, hidden_size=768, intermediate_size=1152,
                                  num_hidden_layers=22, num_attention_heads=12,
                                  max_position_embeddings=8192, local_attention=128,
                                  global_attn_every_n_layers=3, pad_token_id=50283)
        return ModernBertModel(config)
    raise SystemExit(f"unknown shape {shape!r}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", default="bert-base",
                        choices=["bert-base", "distilbert-base", "electra-small",
                                 "deberta-v3-base", "modernbert-base"])
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
    model = build(args.shape)
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
