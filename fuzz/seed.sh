#!/usr/bin/env bash
# Fills fuzz/corpus/<target>/ with seed inputs taken from the repository's own fixtures and
# sample data (run from anywhere; existing corpus files are kept).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
fx="$root/tests/fixtures"
corpus="$root/fuzz/corpus"
# seed TARGET FILE...: each file under a name made of its path below the fixtures
seed() {
  local target="$1"; shift
  mkdir -p "$corpus/$target"
  for f in "$@"; do cp "$f" "$corpus/$target/seed-$(echo "${f#"$root"/}" | tr / _)"; done
}
seed config_json "$fx"/bodies/*/model/config.json "$fx"/heads/*/model/config.json
seed safetensors_file "$fx"/bodies/bert_gelu_pair/model/model.safetensors "$fx"/bodies/bert_bf16/model/model.safetensors
seed safetensors_index "$fx"/bodies/roberta_silu/model/model.safetensors.index.json
seed pytorch_bin "$fx"/pickles/*/pytorch_model.bin
mkdir -p "$corpus/pickle_scan"
for f in "$fx"/pickles/*/pytorch_model.bin; do
  case="$(basename "$(dirname "$f")")"
  if unzip -l "$f" >/dev/null 2>&1; then
    unzip -p "$f" '*/data.pkl' > "$corpus/pickle_scan/seed-$case.pkl"
  else
    head -c 65536 "$f" > "$corpus/pickle_scan/seed-$case.pkl"
  fi
done
mkdir -p "$corpus/conll" "$corpus/panx" "$corpus/jsonl"
# the bundled sample is PAN-X; CoNLL seeds drop the language and use space-separated columns
head -c 4096 "$root"/data/ner-sample/de/validation.txt > "$corpus/panx/seed-de.panx"
head -c 4096 "$root"/data/ner-sample/it/test.txt > "$corpus/panx/seed-it.panx"
head -n 80 "$root"/data/ner-sample/fr/test.txt | sed -e 's/^[a-z]*://' -e 's/\t/ X X /' > "$corpus/conll/seed-fr.txt"
printf -- '-DOCSTART- -X- O O\n\nEU NNP B-NP B-ORG\nrejects VBZ B-VP O\n\n' > "$corpus/conll/seed-conll2003.txt"
printf '%s\n' '{"tokens": ["Angela", "Merkel", "besuchte", "Paris"], "ner_tags": [1, 2, 0, 5], "langs": ["de", "de", "de", "de"]}' \
  '{"tokens": ["Rome"], "ner_tags": ["B-LOC"], "lang": "it"}' > "$corpus/jsonl/seed-ids.jsonl"
printf '%s\n' '{"tokens": ["a", "b"], "tags": ["B-PER", "I-PER"]}' > "$corpus/jsonl/seed-tags.jsonl"
mkdir -p "$corpus/tokenizer_json"
if [ -n "${KINDLING_MINILM_DIR:-}" ] && [ -f "$KINDLING_MINILM_DIR/tokenizer.json" ]; then
  cp "$KINDLING_MINILM_DIR/tokenizer.json" "$corpus/tokenizer_json/seed-minilm.json"
fi
cat > "$corpus/tokenizer_json/seed-wordpiece.json" <<'JSON'
{"version":"1.0","truncation":{"direction":"Right","max_length":8,"strategy":"LongestFirst","stride":0},"padding":{"strategy":"BatchLongest","direction":"Right","pad_to_multiple_of":null,"pad_id":0,"pad_type_id":0,"pad_token":"[PAD]"},"added_tokens":[{"id":0,"content":"[PAD]","single_word":false,"lstrip":false,"rstrip":false,"normalized":false,"special":true},{"id":1,"content":"[UNK]","single_word":false,"lstrip":false,"rstrip":false,"normalized":false,"special":true}],"normalizer":{"type":"BertNormalizer","clean_text":true,"handle_chinese_chars":true,"strip_accents":null,"lowercase":true},"pre_tokenizer":{"type":"BertPreTokenizer"},"post_processor":{"type":"BertProcessing","sep":["[SEP]",3],"cls":["[CLS]",2]},"decoder":{"type":"WordPiece","prefix":"##","cleanup":true},"model":{"type":"WordPiece","unk_token":"[UNK]","continuing_subword_prefix":"##","max_input_chars_per_word":100,"vocab":{"[PAD]":0,"[UNK]":1,"[CLS]":2,"[SEP]":3,"ber":4,"##lin":5,"par":6,"##is":7,"z":8,"##ü":9}}}
JSON
cat > "$corpus/tokenizer_json/seed-unigram.json" <<'JSON'
{"version":"1.0","truncation":null,"padding":null,"added_tokens":[{"id":1,"content":"<pad>","single_word":false,"lstrip":false,"rstrip":false,"normalized":false,"special":true}],"normalizer":{"type":"Sequence","normalizers":[{"type":"Nmt"},{"type":"NFKC"}]},"pre_tokenizer":{"type":"Metaspace","replacement":"▁","prepend_scheme":"always","split":true},"post_processor":{"type":"TemplateProcessing","single":[{"SpecialToken":{"id":"<s>","type_id":0}},{"Sequence":{"id":"A","type_id":0}},{"SpecialToken":{"id":"</s>","type_id":0}}],"pair":[{"Sequence":{"id":"A","type_id":0}},{"Sequence":{"id":"B","type_id":1}}],"special_tokens":{"<s>":{"id":"<s>","ids":[0],"tokens":["<s>"]},"</s>":{"id":"</s>","ids":[2],"tokens":["</s>"]}}},"decoder":{"type":"Metaspace","replacement":"▁","prepend_scheme":"always","split":true},"model":{"type":"Unigram","unk_id":3,"vocab":[["<s>",0.0],["<pad>",0.0],["</s>",0.0],["<unk>",0.0],["▁",-1.0],["a",-2.0],["e",-2.0],["▁Pa",-3.0],["ris",-3.0]],"byte_fallback":false}}
JSON
echo "seeded: $(find "$corpus" -type f | wc -l) files under $corpus"
