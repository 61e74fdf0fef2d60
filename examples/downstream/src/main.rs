//! A downstream project: a head of its own, mounted on a pretrained body from a checkpoint
//! directory, run forward, trained for a few steps with Burn's AdamW, saved as a `transformers`
//! checkpoint and loaded back.
//!
//! ```text
//! cargo run --manifest-path examples/downstream/Cargo.toml -- [CHECKPOINT_DIR ...]
//! ```
//!
//! Any checkpoint kindling reads works (BERT, RoBERTa, XLM-R, DistilBERT, ELECTRA, DeBERTa-v2/v3,
//! ModernBERT; body-only or with a task head, whose tensors are then reported unused). Without
//! arguments it runs on two of kindling's test checkpoints. It exits with an error when a check
//! fails.

use std::error::Error;
use std::path::{Path, PathBuf};

use kindling_heads::prelude::*;
use kindling_import::{Checkpoint, load_model_with_head, save_model};

type Result<T, E = Box<dyn Error>> = std::result::Result<T, E>;

/// The head this project brings: the mean of the body's hidden states over the real tokens,
/// dropout, and a linear classifier. `transformers` has no such head; kindling's contract is
/// all it needs.
#[derive(Module, Debug)]
pub struct MeanPoolClassifier {
    /// Dropout on the pooled vector (active only on an autodiff device).
    dropout: Dropout,
    /// `hidden -> num_classes`; saved as `score.weight` / `score.bias` (not `classifier`, so a
    /// task checkpoint's own classifier is left unused rather than loaded into it).
    score: Linear,
    /// The body width this head expects; mounting checks it.
    hidden_size: usize,
}

impl MeanPoolClassifier {
    /// A fresh head for a body of width `hidden_size`.
    pub fn new(hidden_size: usize, num_classes: usize, device: &Device) -> Self {
        Self {
            dropout: DropoutConfig::new(0.1).init(),
            score: LinearConfig::new(hidden_size, num_classes).init(device),
            hidden_size,
        }
    }
}

impl Head for MeanPoolClassifier {
    /// Logits, `[batch, num_classes]`.
    type Output = Tensor<2>;
    /// Class ids, `[batch]`.
    type Labels = Tensor<1, Int>;

    fn forward(&self, body: BodyOutput, context: &HeadContext) -> Tensor<2> {
        let mask = context.attention_mask.clone().float().unsqueeze_dim::<3>(2);
        let summed = (body.last_hidden_state * mask.clone())
            .sum_dim(1)
            .squeeze_dim::<2>(1);
        let counts = mask.sum_dim(1).squeeze_dim::<2>(1).clamp_min(1.0);
        self.score.forward(self.dropout.forward(summed / counts))
    }

    fn loss(&self, logits: &Tensor<2>, labels: Tensor<1, Int>) -> Result<Tensor<1>, HeadError> {
        cross_entropy_with_ignore(logits.clone(), labels, IGNORE_INDEX)
    }

    fn hidden_size(&self) -> usize {
        self.hidden_size
    }
}

/// Classes of the synthetic task.
const NUM_CLASSES: usize = 3;

/// A padded batch of token ids (drawn from ids 5..=40, inside every vocabulary and clear of
/// the usual special ids), its attention mask, and each sentence's class: its length modulo
/// [`NUM_CLASSES`], something the body's output carries.
fn batch(device: &Device) -> (BodyInput, Tensor<1, Int>) {
    let lengths = [9usize, 4, 7, 12, 5, 10];
    let seq = 12;
    let mut state = 11u64;
    let (mut ids, mut mask, mut classes) = (Vec::new(), Vec::new(), Vec::new());
    for &length in &lengths {
        for position in 0..seq {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1);
            let real = position < length;
            ids.push(if real {
                5 + (state >> 33) as i64 % 36
            } else {
                0
            });
            mask.push(i64::from(real));
        }
        classes.push((length % NUM_CLASSES) as i64);
    }
    let shape = [lengths.len(), seq];
    let input = BodyInput::new(
        Tensor::from_data(TensorData::new(ids, shape), device),
        Tensor::from_data(TensorData::new(mask, shape), device),
    );
    let labels = Tensor::from_data(TensorData::new(classes, [lengths.len()]), device);
    (input, labels)
}

/// Fails with `message` unless `condition` holds.
fn check(condition: bool, message: impl Into<String>) -> Result<()> {
    if condition {
        Ok(())
    } else {
        Err(message.into().into())
    }
}

/// Mounts, runs, trains, saves and reloads the head on the checkpoint in `dir`.
fn run(dir: &Path) -> Result<()> {
    println!("== {} ==", dir.display());
    let device = Device::flex();
    let checkpoint = Checkpoint::open(dir)?;
    let tensors = checkpoint.read_tensors()?;
    let config = checkpoint.config.clone();
    check(
        config.vocab_size() > 40,
        "the vocabulary is too small for the batch",
    )?;

    // 1. Mount: the pretrained body loads, the new head is reported newly initialized.
    let head = MeanPoolClassifier::new(config.hidden_size(), NUM_CLASSES, &device);
    let (model, report) = load_model_with_head(&checkpoint, &tensors, head, false, &device)?;
    print!("{report}");
    check(
        report
            .newly_initialized
            .iter()
            .all(|name| name.starts_with("score.")),
        format!(
            "only the head should be newly initialized: {:?}",
            report.newly_initialized
        ),
    )?;

    // 2. Forward.
    let (input, labels) = batch(&device);
    let logits = model.forward(input.clone());
    check(
        logits.dims() == [6, NUM_CLASSES],
        format!("logits {:?}", logits.dims()),
    )?;
    check(
        !logits.clone().is_nan().any().into_scalar::<bool>(),
        "the logits hold NaN",
    )?;
    println!("forward: logits {:?}", logits.dims());

    // 3. Train: a fresh mount on an autodiff device, AdamW over body and head.
    let train_device = device.clone().autodiff();
    train_device.seed(7);
    let head = MeanPoolClassifier::new(config.hidden_size(), NUM_CLASSES, &train_device);
    let (mut trained, _) = load_model_with_head(&checkpoint, &tensors, head, false, &train_device)?;
    let (train_input, train_labels) = batch(&train_device);
    let mut optimizer = AdamWConfig::new().with_weight_decay(0.01).init();
    let steps = 12;
    let mut losses = Vec::with_capacity(steps);
    for _ in 0..steps {
        let (_, loss) = trained.forward_with_labels(train_input.clone(), train_labels.clone())?;
        losses.push(loss.clone().into_scalar::<f32>());
        let grads = GradientsParams::from_grads(loss.backward(), &trained);
        trained = optimizer.step(5e-3, trained, grads);
    }
    let (first, last) = (losses[0], losses[steps - 1]);
    println!("training: loss {first:.4} -> {last:.4} over {steps} AdamW steps");
    check(
        last.is_finite() && last < first,
        format!("the loss did not fall: {losses:?}"),
    )?;

    // 4. Save as a `transformers` checkpoint and load it back into a fresh head.
    let trained = trained.valid();
    let expected = trained.forward(input.clone());
    let out = std::env::temp_dir().join(format!("kindling-downstream-{}", std::process::id()));
    save_model(&trained, &config, &out, None)?;
    let reopened = Checkpoint::open(&out)?;
    let head = MeanPoolClassifier::new(config.hidden_size(), NUM_CLASSES, &device);
    let (reloaded, report) =
        load_model_with_head(&reopened, &reopened.read_tensors()?, head, false, &device)?;
    let _ = std::fs::remove_dir_all(&out);
    check(
        report.is_exact(),
        format!("the saved checkpoint did not reload exactly:\n{report}"),
    )?;
    let reloaded_logits = reloaded.forward(input);
    let delta = (reloaded_logits.clone() - expected)
        .abs()
        .max()
        .into_scalar::<f32>();
    println!("save and reload: max |Δ| of the logits {delta:e}");
    check(delta == 0.0, format!("reloaded logits differ by {delta}"))?;
    let predicted = reloaded_logits.argmax(1).flatten::<1>(0, 1);
    let right = predicted.equal(labels).int().sum().into_scalar::<i64>();
    println!("training-batch accuracy {right}/6\n");
    Ok(())
}

fn main() -> Result<()> {
    let dirs: Vec<PathBuf> = match std::env::args()
        .skip(1)
        .map(PathBuf::from)
        .collect::<Vec<_>>()
    {
        dirs if !dirs.is_empty() => dirs,
        _ => {
            let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/heads");
            vec![
                fixtures.join("bert_token_cls/model"),
                fixtures.join("modernbert_seq_cls_single/model"),
            ]
        }
    };
    for dir in &dirs {
        run(dir)?;
    }
    println!("all checks passed");
    Ok(())
}
