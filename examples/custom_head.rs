//! The book's exercise (Tunstall, von Werra, Wolf: *Natural Language Processing with
//! Transformers*, ch. 4): build `XLMRobertaForTokenClassification` yourself, as a pretrained
//! XLM-R body plus a head you wrote, and then go further with a head `transformers` does not have.
//!
//! 1. [`MyTokenClassifier`] (dropout + linear, written here against the [`Head`] contract) is
//!    mounted on the body of a token-classification checkpoint. Its classifier is named
//!    `classifier`, like `transformers`' one, so the checkpoint's head weights load into it too,
//!    and its logits equal those of kindling's own token-classification head.
//! 2. A linear-chain CRF head ([`CrfTagger`], in `crf.rs`) is mounted on the same pretrained
//!    body, trained for a few steps with AdamW on a tiny synthetic tagging batch, and decoded
//!    with Viterbi.
//!
//! ```text
//! cargo run -p kindling-examples --example custom_head [-- CHECKPOINT_DIR]
//! ```
//!
//! The default checkpoint is the tiny XLM-R token-classification checkpoint that
//! `transformers` wrote for kindling's tests (`tests/fixtures/heads/xlmr_token_cls/model`);
//! any BERT/RoBERTa/XLM-R token-classification checkpoint directory works. The program exits
//! with an error if a check fails.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail, ensure};
// Burn, its layers and optimizers, the body's input and output, the `Head` contract, the mount,
// the losses and checkpoint loading, in one line.
use kindling::prelude::*;
use kindling_examples::CrfTagger;

/// Part 1: the token-classification head, written by hand. `dropout` and `classifier` are the
/// names `transformers` uses, so `classifier.weight` and `classifier.bias` of a
/// `*ForTokenClassification` checkpoint load into it.
#[derive(Module, Debug)]
pub struct MyTokenClassifier {
    /// Dropout on the body's hidden states (active only while training on an autodiff device).
    dropout: Dropout,
    /// `hidden -> num_labels`.
    classifier: Linear,
    /// The body width this head expects; mounting checks it against the body's.
    hidden_size: usize,
}

impl MyTokenClassifier {
    /// A fresh head; whatever the checkpoint holds for it replaces these weights on loading.
    pub fn new(hidden_size: usize, num_labels: usize, dropout: f64, device: &Device) -> Self {
        Self {
            dropout: DropoutConfig::new(dropout).init(),
            classifier: LinearConfig::new(hidden_size, num_labels).init(device),
            hidden_size,
        }
    }
}

impl Head for MyTokenClassifier {
    /// Logits, `[batch, seq, num_labels]`.
    type Output = Tensor<3>;
    /// Label ids, `[batch, seq]`, `-100` where no label applies.
    type Labels = Tensor<2, Int>;

    fn forward(&self, body: BodyOutput, _context: &HeadContext) -> Tensor<3> {
        let hidden = self.dropout.forward(body.last_hidden_state);
        self.classifier.forward(hidden)
    }

    fn loss(&self, logits: &Tensor<3>, labels: Tensor<2, Int>) -> Result<Tensor<1>, HeadError> {
        let [batch, seq, classes] = logits.dims();
        cross_entropy_with_ignore(
            logits.clone().reshape([batch * seq, classes]),
            labels.reshape([batch * seq]),
            IGNORE_INDEX,
        )
    }

    fn hidden_size(&self) -> usize {
        self.hidden_size
    }
}

/// XLM-R's special token ids: `<s>`, `<pad>`, `</s>`.
const BOS: i64 = 0;
const PAD: i64 = 1;
const EOS: i64 = 2;

/// Token ids `<s> words… </s> <pad>…`, padded to the longest sentence, and the attention mask.
fn batch(sentences: &[Vec<i64>], device: &Device) -> (Tensor<2, Int>, Tensor<2, Int>) {
    let seq = sentences.iter().map(Vec::len).max().unwrap_or(0) + 2;
    let mut ids = Vec::new();
    let mut mask = Vec::new();
    for words in sentences {
        let row: Vec<i64> = std::iter::once(BOS)
            .chain(words.iter().copied())
            .chain(std::iter::once(EOS))
            .collect();
        mask.extend((0..seq).map(|i| i64::from(i < row.len())));
        ids.extend(row.iter().copied().chain(std::iter::repeat(PAD)).take(seq));
    }
    let shape = [sentences.len(), seq];
    (
        Tensor::from_data(TensorData::new(ids, shape), device),
        Tensor::from_data(TensorData::new(mask, shape), device),
    )
}

/// The synthetic task: each word's tag is a fixed function of its token id.
fn tag_of(id: i64, num_tags: usize) -> i64 {
    id % num_tags as i64
}

/// Token-classification labels for a batch: `-100` on `<s>`, `</s>` and padding (as on later
/// sub-words in real data), each word's tag elsewhere.
fn word_labels(ids: &Tensor<2, Int>, num_tags: usize) -> Tensor<2, Int> {
    let labels: Vec<i64> = ids
        .to_data()
        .iter::<i64>()
        .map(|id| match id {
            BOS | PAD | EOS => IGNORE_INDEX,
            id => tag_of(id, num_tags),
        })
        .collect();
    Tensor::from_data(TensorData::new(labels, ids.dims()), &ids.device())
}

/// The largest absolute difference between two tensors.
fn max_abs_diff(a: Tensor<3>, b: Tensor<3>) -> f32 {
    (a - b).abs().max().into_scalar::<f32>()
}

/// Part 1: mount [`MyTokenClassifier`] on the checkpoint and compare it with kindling's head.
fn my_token_classifier(dir: &Path, device: &Device) -> Result<()> {
    println!("== 1. XLMRobertaForTokenClassification, written by hand ==");
    let checkpoint = Checkpoint::open(dir)?;
    let tensors = checkpoint.read_tensors()?;
    let config = &checkpoint.config;
    let labels = config
        .labels()
        .context("the checkpoint has no id2label: is it a token-classification checkpoint?")?;
    let head = MyTokenClassifier::new(
        config.hidden_size(),
        labels.len(),
        config.classifier_dropout_prob(),
        device,
    );
    let (mine, report) = load_model_with_head(&checkpoint, &tensors, head, false, device)?;
    print!("{report}");
    ensure!(
        report.is_exact(),
        "the checkpoint did not fill the custom model exactly"
    );

    let (library, _, _) = load_model(dir, device, Default::default())?;

    // Three sentences of word ids (all below 121, so inside the vocabulary), padded.
    ensure!(
        config.vocab_size() > 120,
        "the vocabulary is too small for the batch"
    );
    let sentences = [vec![17, 42, 99, 5, 61, 7], vec![64, 23, 120], vec![88]];
    let (ids, mask) = batch(&sentences, device);
    let targets = word_labels(&ids, labels.len());
    let input = BodyInput::new(ids, mask);
    let (logits, loss) = mine.forward_with_labels(input.clone(), targets.clone())?;
    let (AnyOutput::TokenClassification(expected), expected_loss) =
        library.forward_with_labels(input, AnyLabels::Tokens(targets))?
    else {
        bail!("{} is not a token-classification checkpoint", dir.display());
    };
    let delta = max_abs_diff(logits.clone(), expected.logits);
    let (loss, expected_loss) = (
        loss.into_scalar::<f32>(),
        expected_loss.into_scalar::<f32>(),
    );
    println!("logits {:?} over labels {labels:?}", logits.dims());
    println!("max |Δ| of the logits, MyTokenClassifier vs kindling's head: {delta:e}");
    println!("loss {loss:.6} vs {expected_loss:.6}");
    ensure!(delta <= 1e-6, "the logits differ by {delta}");
    ensure!(
        (loss - expected_loss).abs() <= 1e-6,
        "the losses differ: {loss} vs {expected_loss}"
    );
    Ok(())
}

/// The seed of the training device's random numbers.
const SEED: u64 = 42;

/// Number of tags of the synthetic task.
const NUM_TAGS: usize = 5;

/// Part 2: mount a CRF on the pretrained body, train it, decode with Viterbi.
fn crf_tagger(dir: &Path, device: &Device) -> Result<()> {
    println!("\n== 2. A CRF tagging head, trained on the pretrained body ==");
    // Training needs an autodiff device, and the model must be created on it.
    let train_device = device.clone().autodiff();
    // Seeded, so the fresh head, dropout and thus the printed losses are the same every run.
    train_device.seed(SEED);
    let checkpoint = Checkpoint::open(dir)?;
    let tensors = checkpoint.read_tensors()?;
    let config = &checkpoint.config;
    let head = CrfTagger::new(
        config.hidden_size(),
        NUM_TAGS,
        config.classifier_dropout_prob(),
        config.initializer_range(),
        &train_device,
    );
    let (mut model, report) =
        load_model_with_head(&checkpoint, &tensors, head, false, &train_device)?;
    print!("{report}");
    ensure!(
        report.newly_initialized.iter().any(|n| n == "transitions"),
        "the CRF's transitions should be newly initialized"
    );

    // A tiny tagging batch: sentences drawn from a six-word lexicon by a fixed pseudo-random
    // sequence. The lexicon's ids (3..=8) are clear of the special ids and in every vocabulary.
    ensure!(
        config.vocab_size() > 8,
        "the vocabulary is too small for the lexicon"
    );
    let mut state = 7i64;
    let mut next_word = || {
        state = (state * 48_271) % 2_147_483_647;
        3 + state % 6
    };
    let sentences: Vec<Vec<i64>> = [9, 6, 12, 4, 8, 10]
        .iter()
        .map(|&n| (0..n).map(|_| next_word()).collect())
        .collect();
    let (ids, mask) = batch(&sentences, &train_device);
    let labels = word_labels(&ids, NUM_TAGS);
    let input = BodyInput::new(ids, mask);

    // Burn's AdamW defaults differ from PyTorch's (eps 1e-5, weight decay 1e-4).
    let mut optimizer = AdamWConfig::new().with_weight_decay(0.01).init();
    let learning_rate = 1e-2;
    let steps = 30;
    let mut losses = Vec::with_capacity(steps);
    for step in 1..=steps {
        let (_, loss) = model.forward_with_labels(input.clone(), labels.clone())?;
        losses.push(loss.clone().into_scalar::<f32>());
        if step == 1 || step % 5 == 0 {
            println!("step {step:>2}  loss {:.4}", losses[step - 1]);
        }
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        model = optimizer.step(learning_rate, model, grads);
    }
    let (first, last) = (losses[0], losses[steps - 1]);
    println!("loss: first {first:.4}, last {last:.4}");
    ensure!(
        last < 0.5 * first,
        "the loss did not halve: {first} -> {last}"
    );

    // `valid()` moves the model off autodiff and switches dropout off.
    let model = model.valid();
    let eval_device = train_device.inner();
    let (ids, mask) = batch(&sentences, &eval_device);
    let labels = word_labels(&ids, NUM_TAGS);
    let output = model.forward(BodyInput::new(ids, mask));
    let keep = labels.clone().not_equal_elem(IGNORE_INDEX).int();
    let decoded = model.head.decode(&output, Some(keep));
    let gold: Vec<usize> = sentences[0]
        .iter()
        .map(|&id| tag_of(id, NUM_TAGS) as usize)
        .collect();
    println!("sentence 0 words  {:?}", sentences[0]);
    println!("gold tags         {gold:?}");
    println!("Viterbi tags      {:?}", decoded[0]);
    let (right, total) = sentences
        .iter()
        .zip(&decoded)
        .flat_map(|(words, tags)| words.iter().zip(tags))
        .fold((0, 0), |(r, t), (&id, &tag)| {
            (r + usize::from(tag_of(id, NUM_TAGS) as usize == tag), t + 1)
        });
    println!("batch tag accuracy {right}/{total}");
    Ok(())
}

fn main() -> Result<()> {
    let dir = match std::env::args().nth(1) {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../tests/fixtures/heads/xlmr_token_cls/model"),
    };
    let device = Device::flex();
    my_token_classifier(&dir, &device)?;
    crf_tagger(&dir, &device)?;
    println!("\nall checks passed");
    Ok(())
}
