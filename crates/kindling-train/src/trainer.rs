//! The training loop: AdamW + linear schedule + global-norm clipping + accumulation, evaluation
//! every epoch or every N steps, best-model selection on F1, early stopping, and atomic
//! checkpoints from which a killed run resumes exactly.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

use burn::module::Module;
use burn::optim::{GradientsAccumulator, GradientsParams, ModuleOptimizer};
use burn::prelude::*;
use indicatif::{ProgressBar, ProgressStyle};
use kindling_body::{AnyBody, Body};
use kindling_heads::{Head, Model, ModelInput};
use serde::{Deserialize, Serialize};

use crate::checkpoint::{TrainerState, find_checkpoint, load_checkpoint, save_checkpoint};
use crate::error::TrainError;
use crate::log::{LogEntry, Metric, append_metrics, plot_curves};
use crate::optimizer::{AdamWSettings, adamw, clip_global_norm};
use crate::schedule::LinearSchedule;

/// What to train and how (named like `transformers`' `TrainingArguments`; defaults are the
/// book's: 3 epochs, batch 24, lr 5e-5, weight decay 0.01).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainingArguments {
    /// Passes over the training data.
    pub num_train_epochs: usize,
    /// Stop after this many optimizer steps (overrides epochs).
    pub max_steps: Option<usize>,
    /// Examples per forward pass.
    pub batch_size: usize,
    /// Examples per evaluation batch.
    pub eval_batch_size: usize,
    /// Peak learning rate.
    pub learning_rate: f64,
    /// Fraction of the steps spent warming up.
    pub warmup_ratio: f64,
    /// AdamW settings (weight decay 0.01, ε 1e-8).
    pub adamw: AdamWSettings,
    /// Global gradient-norm bound (`None` disables clipping).
    pub max_grad_norm: Option<f64>,
    /// Forward passes per optimizer step.
    pub gradient_accumulation_steps: usize,
    /// Seed of shuffling, dropout and fresh heads.
    pub seed: u64,
    /// Evaluate every N steps; every epoch when `None`.
    pub eval_steps: Option<usize>,
    /// Also write a resume checkpoint every N steps (always at each evaluation).
    pub save_steps: Option<usize>,
    /// Stop after this many evaluations without a better F1.
    pub early_stopping_patience: Option<usize>,
    /// Batch sequences of similar length together.
    pub group_by_length: bool,
    /// Shuffle the training examples each epoch (seeded); off keeps file order.
    pub shuffle: bool,
    /// Show a progress bar.
    pub progress: bool,
    /// Compute forward and backward in bfloat16, keeping float32 master weights
    /// ([`crate::precision`]), as `transformers`' `--bf16`.
    #[serde(default)]
    pub bf16: bool,
    /// The evaluation metric that selects the best model (`loss`, or a name from the task's
    /// [`Evaluation::metrics`]: `f1`, `accuracy`, `exact_match`, ...).
    #[serde(default = "default_metric")]
    pub metric_for_best_model: String,
    /// Whether a larger `metric_for_best_model` is better (false for `loss`).
    #[serde(default = "default_greater_is_better")]
    pub greater_is_better: bool,
    /// Log a line (loss, learning rate, throughput, ETA) every N optimizer steps.
    #[serde(default = "default_logging_steps")]
    pub logging_steps: usize,
}

fn default_metric() -> String {
    "f1".into()
}

fn default_greater_is_better() -> bool {
    true
}

fn default_logging_steps() -> usize {
    50
}

impl Default for TrainingArguments {
    fn default() -> Self {
        Self {
            num_train_epochs: 3,
            max_steps: None,
            batch_size: 24,
            eval_batch_size: 64,
            learning_rate: 5e-5,
            warmup_ratio: 0.0,
            adamw: AdamWSettings::default(),
            max_grad_norm: Some(1.0),
            gradient_accumulation_steps: 1,
            seed: 42,
            eval_steps: None,
            save_steps: None,
            early_stopping_patience: None,
            group_by_length: false,
            shuffle: true,
            progress: true,
            bf16: false,
            metric_for_best_model: default_metric(),
            greater_is_better: default_greater_is_better(),
            logging_steps: default_logging_steps(),
        }
    }
}

impl TrainingArguments {
    /// Checks every field's range, so a bad value is an error naming it rather than a panic or a
    /// silent NaN later (a zero batch size, a negative learning rate, β₂ of 1, ...).
    pub fn validate(&self) -> Result<(), TrainError> {
        fn check(
            ok: bool,
            field: &'static str,
            value: impl std::fmt::Debug,
            message: &'static str,
        ) -> Result<(), TrainError> {
            if ok {
                Ok(())
            } else {
                Err(TrainError::Argument {
                    field,
                    value: format!("{value:?}"),
                    message,
                })
            }
        }
        let positive = |v: Option<usize>| v.is_none_or(|v| v >= 1);
        check(
            self.batch_size >= 1,
            "batch_size",
            self.batch_size,
            "must be at least 1",
        )?;
        check(
            self.logging_steps >= 1,
            "logging_steps",
            self.logging_steps,
            "must be at least 1",
        )?;
        check(
            self.eval_batch_size >= 1,
            "eval_batch_size",
            self.eval_batch_size,
            "must be at least 1",
        )?;
        check(
            self.num_train_epochs >= 1 || self.max_steps.is_some(),
            "num_train_epochs",
            self.num_train_epochs,
            "must be at least 1 (or give max_steps)",
        )?;
        check(
            positive(self.max_steps),
            "max_steps",
            self.max_steps,
            "must be at least 1",
        )?;
        check(
            self.learning_rate.is_finite() && self.learning_rate >= 0.0,
            "learning_rate",
            self.learning_rate,
            "must be a finite number >= 0",
        )?;
        check(
            (0.0..=1.0).contains(&self.warmup_ratio),
            "warmup_ratio",
            self.warmup_ratio,
            "must be in [0, 1]",
        )?;
        let adamw = &self.adamw;
        check(
            adamw.weight_decay.is_finite() && adamw.weight_decay >= 0.0,
            "weight_decay",
            adamw.weight_decay,
            "must be a finite number >= 0",
        )?;
        check(
            (0.0..1.0).contains(&adamw.beta1),
            "adam_beta1",
            adamw.beta1,
            "must be in [0, 1)",
        )?;
        check(
            (0.0..1.0).contains(&adamw.beta2),
            "adam_beta2",
            adamw.beta2,
            "must be in [0, 1)",
        )?;
        check(
            adamw.epsilon.is_finite() && adamw.epsilon > 0.0,
            "adam_epsilon",
            adamw.epsilon,
            "must be a finite number > 0",
        )?;
        check(
            self.max_grad_norm.is_none_or(|n| n.is_finite() && n > 0.0),
            "max_grad_norm",
            self.max_grad_norm,
            "must be a finite number > 0 (or none)",
        )?;
        check(
            self.gradient_accumulation_steps >= 1,
            "gradient_accumulation_steps",
            self.gradient_accumulation_steps,
            "must be at least 1",
        )?;
        check(
            positive(self.eval_steps),
            "eval_steps",
            self.eval_steps,
            "must be at least 1",
        )?;
        check(
            positive(self.save_steps),
            "save_steps",
            self.save_steps,
            "must be at least 1",
        )?;
        check(
            positive(self.early_stopping_patience),
            "early_stopping_patience",
            self.early_stopping_patience,
            "must be at least 1",
        )
    }
}

/// Training examples, batched on demand.
pub trait TrainingData {
    /// The labels the head's loss takes.
    type Labels;
    /// Number of examples.
    fn len(&self) -> usize;
    /// Whether there are no examples.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Token count of each example (for length grouping).
    fn lengths(&self) -> Vec<usize>;
    /// The batch of the examples at `indices`, on `device`.
    fn batch(
        &self,
        indices: &[usize],
        device: &Device,
    ) -> Result<(ModelInput, Self::Labels), TrainError>;
}

/// One evaluation's numbers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evaluation {
    /// Mean loss.
    pub loss: f64,
    /// The task's metrics, named as `transformers`' example scripts name them without the
    /// `eval_` prefix (`precision`/`recall`/`f1`, `accuracy`, `exact_match`, `perplexity`, ...).
    pub metrics: BTreeMap<String, f64>,
}

impl Evaluation {
    /// A metric by name (`loss` is the evaluation loss); `None` when the task has no such
    /// metric.
    pub fn metric(&self, name: &str) -> Option<f64> {
        match name {
            "loss" => Some(self.loss),
            name => self.metrics.get(name).copied(),
        }
    }
}

/// Evaluates a model (in inference mode, on a plain device).
pub trait Evaluator<H: Head> {
    /// Scores `model` on the evaluation data.
    fn evaluate(
        &self,
        model: &Model<AnyBody, H>,
        device: &Device,
    ) -> Result<Evaluation, TrainError>;
}

/// How a finished (or resumed-finished) run went.
#[derive(Debug, Clone)]
pub struct TrainOutcome {
    /// Final counters and the evaluation history.
    pub state: TrainerState,
    /// Optimizer steps planned.
    pub total_steps: usize,
    /// Seconds spent in this process.
    pub seconds: f64,
    /// Whether early stopping ended the run.
    pub stopped_early: bool,
}

/// `1h02m`, `3m07s` or `12s`.
fn format_duration(seconds: f64) -> String {
    let s = seconds.max(0.0).round() as u64;
    match (s / 3600, s / 60 % 60, s % 60) {
        (0, 0, sec) => format!("{sec}s"),
        (0, min, sec) => format!("{min}m{sec:02}s"),
        (h, min, _) => format!("{h}h{min:02}m"),
    }
}

/// Deterministic per-step seed (splitmix64), so dropout masks after a resume equal those of an
/// uninterrupted run.
fn step_seed(seed: u64, step: usize, micro: usize) -> u64 {
    let mut z = seed
        .wrapping_add((step as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15))
        .wrapping_add(micro as u64);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Steps planned for `args` on `examples` examples.
pub fn planned_steps(args: &TrainingArguments, examples: usize) -> usize {
    let batches = examples.div_ceil(args.batch_size.max(1));
    let per_epoch = batches.div_ceil(args.gradient_accumulation_steps.max(1));
    args.max_steps.unwrap_or(per_epoch * args.num_train_epochs)
}

/// Called with the model whenever the selection metric improves.
type OnBest<'a, H> = dyn FnMut(&Model<AnyBody, H>) -> Result<(), TrainError> + 'a;

/// The state of a training loop between steps.
struct Loop<'a, H: Head, E> {
    args: &'a TrainingArguments,
    run_dir: &'a Path,
    evaluator: Option<&'a E>,
    optimizer: ModuleOptimizer,
    schedule: LinearSchedule,
    state: TrainerState,
    loss_sum: f64,
    loss_count: usize,
    bar: ProgressBar,
    _head: std::marker::PhantomData<H>,
}

impl<H: Head, E: Evaluator<H>> Loop<'_, H, E> {
    /// Prints a log line above the progress bar (or alone, without one).
    fn log(&self, line: String) {
        if self.bar.is_hidden() {
            eprintln!("{line}");
        } else {
            self.bar.println(line);
        }
    }

    /// Redraws `curves.svg`.
    fn plot(&self) -> Result<(), TrainError> {
        plot_curves(
            &self.run_dir.join("curves.svg"),
            &self.state.step_losses,
            self.args.logging_steps.clamp(1, 10),
            &self.state.log_history,
            &self.args.metric_for_best_model,
        )
    }

    /// Whether the last evaluation was at the current step.
    fn evaluated_now(&self) -> bool {
        self.state
            .log_history
            .last()
            .is_some_and(|e| e.step == self.state.global_step)
    }

    /// Evaluates, logs, tracks the best model and writes a checkpoint; returns whether early
    /// stopping says to stop.
    fn evaluate_and_save(
        &mut self,
        model: &Model<AnyBody, H>,
        epoch: f64,
        on_best: &mut OnBest<'_, H>,
    ) -> Result<bool, TrainError> {
        let mut stop = false;
        if let Some(evaluator) = self.evaluator {
            let valid = model.valid();
            let device = valid.body.input_embeddings().device();
            let eval = evaluator.evaluate(&valid, &device)?;
            let metric_name = self.args.metric_for_best_model.as_str();
            let value = eval
                .metric(metric_name)
                .ok_or_else(|| TrainError::Argument {
                    field: "metric_for_best_model",
                    value: format!("{metric_name:?}"),
                    message: "is not a metric of this task's evaluation",
                })?;
            let entry = LogEntry {
                epoch,
                step: self.state.global_step,
                train_loss: if self.loss_count > 0 {
                    self.loss_sum / self.loss_count as f64
                } else {
                    f64::NAN
                },
                loss: eval.loss,
                learning_rate: self.schedule.lr(self.state.global_step),
                metrics: eval
                    .metrics
                    .iter()
                    .map(|(k, v)| (k.clone(), Metric(*v)))
                    .collect(),
            };
            self.loss_sum = 0.0;
            self.loss_count = 0;
            self.log(format!(
                "eval at step {} (epoch {epoch:.2}): loss {:.4}{}",
                entry.step,
                eval.loss,
                eval.metrics
                    .iter()
                    .map(|(k, v)| format!(", {k} {v:.4}"))
                    .collect::<String>()
            ));
            append_metrics(&self.run_dir.join("metrics.jsonl"), &entry)?;
            self.state.log_history.push(entry);
            self.plot()?;
            let better = self.state.best_metric.is_none_or(|best| {
                if self.args.greater_is_better {
                    value > best
                } else {
                    value < best
                }
            });
            if better {
                self.state.best_metric = Some(value);
                self.state.best_step = Some(self.state.global_step);
                self.state.evals_without_improvement = 0;
                on_best(&valid)?;
            } else {
                self.state.evals_without_improvement += 1;
                stop = self
                    .args
                    .early_stopping_patience
                    .is_some_and(|p| self.state.evals_without_improvement >= p);
            }
        }
        save_checkpoint(self.run_dir, model, &self.optimizer, &self.state)?;
        Ok(stop)
    }
}

/// Trains `model` (on an autodiff device) on `data`.
///
/// Writes `metrics.jsonl`, `curves.svg` and the resume checkpoint into `run_dir`; calls
/// `on_best` with the model whenever the evaluation F1 improves (to export it). With `resume`,
/// continues from the run directory's checkpoint: same batches, same dropout, same optimizer
/// state, so the final weights equal an uninterrupted run's.
#[allow(clippy::too_many_arguments)]
pub fn train<H, D, E>(
    model: Model<AnyBody, H>,
    data: &D,
    evaluator: Option<&E>,
    args: &TrainingArguments,
    run_dir: &Path,
    resume: bool,
    device: &Device,
    mut on_best: impl FnMut(&Model<AnyBody, H>) -> Result<(), TrainError>,
) -> Result<(Model<AnyBody, H>, TrainOutcome), TrainError>
where
    H: Head,
    D: TrainingData<Labels = H::Labels>,
    E: Evaluator<H>,
{
    args.validate()?;
    if args.bf16 {
        crate::precision::check_bf16_device(device)?;
    }
    if data.is_empty() {
        return Err(TrainError::Data("the training set is empty".into()));
    }
    std::fs::create_dir_all(run_dir).map_err(|source| TrainError::Io {
        path: run_dir.to_path_buf(),
        source,
    })?;
    let started = Instant::now();
    let accum = args.gradient_accumulation_steps.max(1);
    let total_steps = planned_steps(args, data.len());
    let warmup = (total_steps as f64 * args.warmup_ratio).ceil() as usize;
    let mut model = model;
    let bar = if args.progress {
        let bar = ProgressBar::new(total_steps as u64);
        bar.set_style(
            ProgressStyle::with_template("{elapsed_precise} [{bar:30}] {pos}/{len} steps  {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        bar
    } else {
        ProgressBar::hidden()
    };
    let mut lp = Loop::<H, E> {
        args,
        run_dir,
        evaluator,
        optimizer: adamw(&model, &args.adamw),
        schedule: LinearSchedule::new(args.learning_rate, warmup, total_steps),
        state: TrainerState::default(),
        loss_sum: 0.0,
        loss_count: 0,
        bar,
        _head: std::marker::PhantomData,
    };
    if resume {
        let dir = find_checkpoint(run_dir).ok_or_else(|| TrainError::NoCheckpoint {
            path: run_dir.to_path_buf(),
        })?;
        let (m, o, s) = load_checkpoint(&dir, model, |m| adamw(m, &args.adamw))?;
        model = m;
        lp.optimizer = o;
        lp.state = s;
        // Evaluations logged after the checkpoint (by the killed process) are dropped: the
        // log is rewritten from the checkpoint's history and the resumed run logs them again.
        let log = run_dir.join("metrics.jsonl");
        if log.exists() {
            std::fs::remove_file(&log).map_err(|source| TrainError::Io {
                path: log.clone(),
                source,
            })?;
        }
        for entry in &lp.state.log_history {
            append_metrics(&log, entry)?;
        }
    } else if run_dir.join("metrics.jsonl").exists() {
        std::fs::remove_file(run_dir.join("metrics.jsonl")).map_err(|source| TrainError::Io {
            path: run_dir.join("metrics.jsonl"),
            source,
        })?;
    }
    let lengths = data.lengths();
    lp.bar.set_position(lp.state.global_step as u64);
    let mut stopped_early = false;
    let mut accumulator = GradientsAccumulator::<Model<AnyBody, H>>::new();
    let mut examples_seen = 0usize;
    let step_clock = Instant::now();
    let start_step = lp.state.global_step;

    'epochs: while !lp.state.finished && lp.state.global_step < total_steps {
        let epoch = lp.state.epoch;
        let order = kindling_data::batch_order(
            data.len(),
            args.batch_size,
            args.shuffle.then(|| args.seed.wrapping_add(epoch as u64)),
            args.group_by_length.then_some(lengths.as_slice()),
        )?;
        let batches = order.len();
        let mut micro = 0usize;
        let mut step_loss = 0.0;
        for (b, indices) in order.iter().enumerate().skip(lp.state.batches_in_epoch) {
            device.seed(step_seed(args.seed, lp.state.global_step, micro));
            let (input, labels) = data.batch(indices, device)?;
            let (_, loss) = if args.bf16 {
                crate::precision::bf16_view(&model).forward_with_labels(input, labels)?
            } else {
                model.forward_with_labels(input, labels)?
            };
            let value = loss.clone().into_scalar::<f64>();
            if !value.is_finite() {
                return Err(TrainError::NonFiniteLoss {
                    step: lp.state.global_step,
                    loss: value,
                });
            }
            lp.loss_sum += value;
            lp.loss_count += 1;
            step_loss += value;
            examples_seen += indices.len();
            let grads = (loss / accum as f64).backward();
            accumulator.accumulate(&model, GradientsParams::from_grads(grads, &model));
            micro += 1;
            if micro < accum && b + 1 < batches {
                continue;
            }
            lp.state.step_losses.push(step_loss / micro as f64);
            step_loss = 0.0;
            micro = 0;
            let mut grads = accumulator.grads();
            if let Some(max_norm) = args.max_grad_norm {
                let (m, _) = clip_global_norm(model, &mut grads, max_norm);
                model = m;
            }
            let lr = lp.schedule.lr(lp.state.global_step);
            model = lp.optimizer.step(lr, model, grads);
            lp.state.global_step += 1;
            lp.state.batches_in_epoch = b + 1;
            let rate = examples_seen as f64 / step_clock.elapsed().as_secs_f64().max(1e-9);
            lp.bar.set_position(lp.state.global_step as u64);
            lp.bar
                .set_message(format!("loss {value:.4}  lr {lr:.2e}  {rate:.1} ex/s"));
            let step = lp.state.global_step;
            if step.is_multiple_of(args.logging_steps.max(1)) || step == total_steps {
                let recent = &lp.state.step_losses[lp
                    .state
                    .step_losses
                    .len()
                    .saturating_sub(args.logging_steps.max(1))..];
                let mean = recent.iter().sum::<f64>() / recent.len().max(1) as f64;
                let done = step.saturating_sub(start_step).max(1) as f64;
                let eta = step_clock.elapsed().as_secs_f64() / done
                    * total_steps.saturating_sub(step) as f64;
                lp.log(format!(
                    "step {step}/{total_steps} (epoch {:.2}): loss {mean:.4}, learning_rate {lr:.3e}, {rate:.1} examples/s, ETA {}",
                    epoch as f64 + (b + 1) as f64 / batches as f64,
                    format_duration(eta)
                ));
            }

            let epoch_progress = epoch as f64 + (b + 1) as f64 / batches as f64;
            if args.eval_steps.is_some_and(|n| step.is_multiple_of(n)) {
                if lp.evaluate_and_save(&model, epoch_progress, &mut on_best)? {
                    stopped_early = true;
                    break 'epochs;
                }
            } else if args.save_steps.is_some_and(|n| step.is_multiple_of(n)) {
                save_checkpoint(run_dir, &model, &lp.optimizer, &lp.state)?;
            }
            if step >= total_steps {
                break;
            }
        }
        lp.state.epoch += 1;
        lp.state.batches_in_epoch = 0;
        if args.eval_steps.is_none()
            && lp.state.global_step < total_steps
            && !lp.evaluated_now()
            && lp.evaluate_and_save(&model, lp.state.epoch as f64, &mut on_best)?
        {
            stopped_early = true;
            break;
        }
    }
    // The final evaluation, also when a resumed run had finished its steps but not this.
    if !stopped_early && !lp.evaluated_now() {
        let epoch = lp.state.epoch.max(1) as f64;
        lp.evaluate_and_save(&model, epoch, &mut on_best)?;
    }
    lp.bar.finish_and_clear();
    lp.state.finished = true;
    lp.plot()?;
    save_checkpoint(run_dir, &model, &lp.optimizer, &lp.state)?;
    Ok((
        model,
        TrainOutcome {
            state: lp.state,
            total_steps,
            seconds: started.elapsed().as_secs_f64(),
            stopped_early,
        },
    ))
}
