#!/usr/bin/env python3
"""Hugging Face `transformers` Trainer baseline for kindling's default training job.

Fine-tunes sentence-transformers/all-MiniLM-L6-v2 for token classification on the bundled
multilingual NER sample (data/ner-sample, PAN-X format) exactly like chapter 4 of "Natural
Language Processing with Transformers" (tokenize_and_align_labels, DataCollatorForToken-
Classification, seqeval F1 on first sub-words), with the same hyper-parameters as
`cargo xtask train`'s defaults, so that the test F1 of the two can be compared:

    train       de, fr, it, en train files concatenated in that order
    validation  the four validation files (model selection: best F1 over the epochs)
    test        per language, and the four together

    3 epochs, batch 24 (eval 64), AdamW lr 5e-5, weight decay 0.01, no warm-up, linear decay,
    gradient clipping 1.0, seed 42, CPU.

Usage (from the repository root; requirements in scripts/requirements.txt):

    HF_HUB_OFFLINE=1 python scripts/hf_trainer_baseline.py \
        [--model DIR] [--output runs/hf-baseline/report.json] [--threads 2]

The model directory defaults to $KINDLING_MINILM_DIR, else ~/.cache/kindling/all-MiniLM-L6-v2,
and must hold config.json, model.safetensors and tokenizer.json. Nothing is downloaded.
Checkpoints go next to the report (<output dir>/checkpoints); the report is JSON with
per-language precision/recall/F1, the validation history, the wall time and the versions.
`--max-train N --epochs 1` makes a quick smoke test.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

# Offline before transformers is imported: never reach the Hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import inspect  # noqa: E402

import numpy as np  # noqa: E402
import seqeval  # noqa: E402
import torch  # noqa: E402
import transformers  # noqa: E402
from seqeval.metrics import f1_score, precision_score, recall_score  # noqa: E402
from transformers import (  # noqa: E402
    AutoModelForTokenClassification,
    AutoTokenizer,
    DataCollatorForTokenClassification,
    Trainer,
    TrainingArguments,
    set_seed,
)

REPO_ROOT = Path(__file__).resolve().parent.parent
LANGUAGES = ["de", "fr", "it", "en"]
# PAN-X's tag set, in PAN-X's order (kindling_data::LabelSet::panx()).
TAGS = ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC"]
INDEX2TAG = dict(enumerate(TAGS))
TAG2INDEX = {tag: idx for idx, tag in INDEX2TAG.items()}


def default_model_dir() -> Path:
    env = os.environ.get("KINDLING_MINILM_DIR")
    if env:
        return Path(env)
    return Path.home() / ".cache" / "kindling" / "all-MiniLM-L6-v2"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, default=default_model_dir(),
                        help="all-MiniLM-L6-v2 directory [default: $KINDLING_MINILM_DIR, "
                             "else ~/.cache/kindling/all-MiniLM-L6-v2]")
    parser.add_argument("--data", type=Path, default=REPO_ROOT / "data" / "ner-sample",
                        help="directory with {de,fr,it,en}/{train,validation,test}.txt")
    parser.add_argument("--output", type=Path,
                        default=REPO_ROOT / "runs" / "hf-baseline" / "report.json",
                        help="JSON report; checkpoints go to <its directory>/checkpoints")
    parser.add_argument("--epochs", type=float, default=3)
    parser.add_argument("--batch-size", type=int, default=24)
    parser.add_argument("--lr", type=float, default=5e-5)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument("--max-train", type=int, default=None,
                        help="keep only the first N training sentences (smoke test)")
    parser.add_argument("--max-eval", type=int, default=None,
                        help="keep only the first N sentences of each validation/test file")
    return parser.parse_args()


def read_panx(path: Path) -> list[dict]:
    """PAN-X format: `lang:token<TAB>tag` per word, a blank line after each sentence."""
    sentences, tokens, tags = [], [], []
    with path.open(encoding="utf-8") as handle:
        for line_no, raw in enumerate(handle, 1):
            line = raw.rstrip("\n").rstrip("\r")
            if not line.strip():
                if tokens:
                    sentences.append({"tokens": tokens, "ner_tags": tags})
                    tokens, tags = [], []
                continue
            word, sep, tag = line.rpartition("\t")
            if not sep:
                raise ValueError(f"{path}:{line_no}: expected `lang:token<TAB>tag`")
            lang, colon, token = word.partition(":")
            if not colon:
                raise ValueError(f"{path}:{line_no}: missing `lang:` prefix")
            tokens.append(token)
            tags.append(TAG2INDEX[tag.strip()])
    if tokens:
        sentences.append({"tokens": tokens, "ner_tags": tags})
    return sentences


def read_split(data_dir: Path, split: str, langs: list[str], limit: int | None) -> list[dict]:
    examples = []
    for lang in langs:
        part = read_panx(data_dir / lang / f"{split}.txt")
        examples.extend(part[:limit] if limit is not None else part)
    return examples


def tokenize_and_align_labels(tokenizer, examples: list[dict]) -> list[dict]:
    """The book's tokenize_and_align_labels: the label on the first sub-word of each word,
    -100 on the other sub-words and on the special tokens."""
    tokenized_inputs = tokenizer([ex["tokens"] for ex in examples], truncation=True,
                                 is_split_into_words=True)
    features = []
    for idx, example in enumerate(examples):
        label = example["ner_tags"]
        word_ids = tokenized_inputs.word_ids(batch_index=idx)
        previous_word_idx = None
        label_ids = []
        for word_idx in word_ids:
            if word_idx is None or word_idx == previous_word_idx:
                label_ids.append(-100)
            else:
                label_ids.append(label[word_idx])
            previous_word_idx = word_idx
        feature = {key: values[idx] for key, values in tokenized_inputs.items()}
        feature["labels"] = label_ids
        features.append(feature)
    return features


class FeatureDataset(torch.utils.data.Dataset):
    """A list of tokenized examples (no `datasets` dependency)."""

    def __init__(self, features: list[dict]):
        self.features = features

    def __len__(self) -> int:
        return len(self.features)

    def __getitem__(self, idx: int) -> dict:
        return self.features[idx]


def align_predictions(predictions: np.ndarray, label_ids: np.ndarray):
    """The book's align_predictions: tags at the positions whose label is not -100."""
    preds = np.argmax(predictions, axis=2)
    batch_size, seq_len = preds.shape
    labels_list, preds_list = [], []
    for batch_idx in range(batch_size):
        example_labels, example_preds = [], []
        for seq_idx in range(seq_len):
            if label_ids[batch_idx, seq_idx] != -100:
                example_labels.append(INDEX2TAG[int(label_ids[batch_idx][seq_idx])])
                example_preds.append(INDEX2TAG[int(preds[batch_idx][seq_idx])])
        labels_list.append(example_labels)
        preds_list.append(example_preds)
    return preds_list, labels_list


def compute_metrics(eval_pred) -> dict:
    y_pred, y_true = align_predictions(eval_pred.predictions, eval_pred.label_ids)
    return {
        "f1": f1_score(y_true, y_pred),
        "precision": precision_score(y_true, y_pred),
        "recall": recall_score(y_true, y_pred),
    }


def training_arguments(args: argparse.Namespace, output_dir: Path) -> TrainingArguments:
    kwargs = dict(
        output_dir=str(output_dir),
        num_train_epochs=args.epochs,
        per_device_train_batch_size=args.batch_size,
        per_device_eval_batch_size=64,
        learning_rate=args.lr,
        weight_decay=0.01,
        max_grad_norm=1.0,
        eval_strategy="epoch",
        save_strategy="epoch",
        load_best_model_at_end=True,
        metric_for_best_model="f1",
        seed=args.seed,
        report_to=[],
        logging_strategy="epoch",
        use_cpu=True,
        dataloader_num_workers=0,
        save_total_limit=1,
        disable_tqdm=True,
    )
    # transformers 5 folded `warmup_ratio` into `warmup_steps` (a float < 1 is a ratio).
    if "warmup_ratio" in inspect.signature(TrainingArguments).parameters:
        kwargs["warmup_ratio"] = 0.0
    else:
        kwargs["warmup_steps"] = 0.0
    return TrainingArguments(**kwargs)


def main() -> int:
    args = parse_args()
    torch.set_num_threads(args.threads)
    model_dir = args.model.expanduser()
    for name in ("config.json", "model.safetensors", "tokenizer.json"):
        if not (model_dir / name).is_file():
            sys.exit(f"{model_dir / name} is missing (pass --model or set KINDLING_MINILM_DIR)")
    output = args.output
    run_dir = output.parent
    run_dir.mkdir(parents=True, exist_ok=True)

    start = time.perf_counter()
    train_examples = read_split(args.data, "train", LANGUAGES, None)
    if args.max_train is not None:
        train_examples = train_examples[: args.max_train]
    validation_examples = read_split(args.data, "validation", LANGUAGES, args.max_eval)
    test_examples = {lang: read_split(args.data, "test", [lang], args.max_eval)
                     for lang in LANGUAGES}

    tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    train_ds = FeatureDataset(tokenize_and_align_labels(tokenizer, train_examples))
    validation_ds = FeatureDataset(tokenize_and_align_labels(tokenizer, validation_examples))
    test_ds = {lang: FeatureDataset(tokenize_and_align_labels(tokenizer, examples))
               for lang, examples in test_examples.items()}
    test_ds["all"] = FeatureDataset([f for lang in LANGUAGES for f in test_ds[lang].features])

    # The fresh head is drawn from the seeded generator, as with the book's model_init.
    set_seed(args.seed)
    model = AutoModelForTokenClassification.from_pretrained(
        str(model_dir), num_labels=len(TAGS), id2label=INDEX2TAG, label2id=TAG2INDEX)

    trainer = Trainer(
        model=model,
        args=training_arguments(args, run_dir / "checkpoints"),
        data_collator=DataCollatorForTokenClassification(tokenizer),
        train_dataset=train_ds,
        eval_dataset=validation_ds,
        processing_class=tokenizer,
        compute_metrics=compute_metrics,
    )
    train_start = time.perf_counter()
    train_result = trainer.train()
    train_seconds = time.perf_counter() - train_start

    results = {}
    for name, dataset in test_ds.items():
        metrics = trainer.evaluate(dataset, metric_key_prefix="test")
        results[name] = {
            "sentences": len(dataset),
            "precision": metrics["test_precision"],
            "recall": metrics["test_recall"],
            "f1": metrics["test_f1"],
            "loss": metrics["test_loss"],
        }
    wall_seconds = time.perf_counter() - start

    history = [
        {key: entry[key] for key in ("epoch", "step", "loss", "eval_loss", "eval_f1",
                                     "eval_precision", "eval_recall") if key in entry}
        for entry in trainer.state.log_history
        if "loss" in entry or "eval_f1" in entry
    ]
    report = {
        "job": "hf-trainer-baseline",
        "command": " ".join([Path(sys.executable).name] + sys.argv),
        "model": str(model_dir),
        "data": str(args.data),
        "train_sentences": len(train_ds),
        "validation_sentences": len(validation_ds),
        "hyperparameters": {
            "epochs": args.epochs, "batch_size": args.batch_size, "eval_batch_size": 64,
            "learning_rate": args.lr, "weight_decay": 0.01, "warmup_ratio": 0.0,
            "lr_scheduler": "linear", "max_grad_norm": 1.0, "seed": args.seed,
            "label_all_subwords": False, "truncation": "model_max_length "
            f"({tokenizer.model_max_length})",
        },
        "best_checkpoint": trainer.state.best_model_checkpoint,
        "best_validation_f1": trainer.state.best_metric,
        "global_steps": trainer.state.global_step,
        "train_loss": train_result.training_loss,
        "history": history,
        "test": results,
        "train_seconds": train_seconds,
        "wall_seconds": wall_seconds,
        "torch_threads": torch.get_num_threads(),
        "versions": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "transformers": transformers.__version__,
            "seqeval": getattr(seqeval, "__version__", None) or _dist_version("seqeval"),
            "accelerate": _dist_version("accelerate"),
            "tokenizers": _dist_version("tokenizers"),
            "numpy": np.__version__,
        },
    }
    output.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")

    print()
    print(f"best validation F1 {trainer.state.best_metric:.4f} "
          f"({trainer.state.best_model_checkpoint})")
    print(f"{'test':<6} {'sentences':>9} {'precision':>9} {'recall':>9} {'F1':>9}")
    for name, row in results.items():
        print(f"{name:<6} {row['sentences']:>9} {row['precision']:>9.4f} "
              f"{row['recall']:>9.4f} {row['f1']:>9.4f}")
    print(f"wall time {wall_seconds:.1f} s (training {train_seconds:.1f} s, "
          f"{torch.get_num_threads()} threads)")
    print(f"report: {output}")
    return 0


def _dist_version(name: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version
    try:
        return version(name)
    except PackageNotFoundError:
        return None


if __name__ == "__main__":
    sys.exit(main())
