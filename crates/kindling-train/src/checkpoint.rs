//! Resumable training state, written atomically: a checkpoint directory holds the model (with
//! its parameter ids, so optimizer state still matches), the optimizer state and the trainer's
//! counters. A half-written checkpoint never replaces the last good one.

use std::path::{Path, PathBuf};

use burn::module::{Module, ModuleVisitor, Param};
use burn::optim::ModuleOptimizer;
use burn::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::TrainError;
use crate::log::LogEntry;

/// The trainer's counters and history, `trainer_state.json` in a checkpoint.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TrainerState {
    /// Optimizer steps taken.
    pub global_step: usize,
    /// The epoch in progress (0-based).
    pub epoch: usize,
    /// Batches of the current epoch already consumed.
    pub batches_in_epoch: usize,
    /// Best value so far of the selection metric (`metric_for_best_model`).
    #[serde(alias = "best_f1")]
    pub best_metric: Option<f64>,
    /// The step of the best evaluation.
    pub best_step: Option<usize>,
    /// Evaluations since the last improvement (for early stopping).
    pub evals_without_improvement: usize,
    /// Every logged evaluation.
    pub log_history: Vec<LogEntry>,
    /// Mean training loss of each optimizer step.
    #[serde(default)]
    pub step_losses: Vec<f64>,
    /// Whether training finished.
    pub finished: bool,
}

const MODEL: &str = "model.bpk";
const OPTIMIZER: &str = "optimizer.bpk";
const STATE: &str = "trainer_state.json";

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> TrainError + '_ {
    move |source| TrainError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The resume checkpoint of a run directory: `<run>/checkpoint`.
pub fn checkpoint_dir(run: &Path) -> PathBuf {
    run.join("checkpoint")
}

/// Counts the float parameters of a module holding a NaN or an infinity.
struct NonFiniteCounter {
    tensors: usize,
}

impl ModuleVisitor for NonFiniteCounter {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let finite = param.val().is_finite().all().into_scalar::<bool>();
        if !finite {
            self.tensors += 1;
        }
    }
}

/// How many of `model`'s float parameters hold a NaN or an infinity.
pub fn non_finite_parameters<M: Module>(model: &M) -> usize {
    let mut counter = NonFiniteCounter { tensors: 0 };
    model.visit(&mut counter);
    counter.tensors
}

/// Writes model, optimizer and state into `<run>/checkpoint` through a temporary directory
/// and renames, so an interruption at any point leaves the previous checkpoint readable.
///
/// Weights holding a NaN or an infinity are refused ([`TrainError::NonFiniteWeights`]): a finite
/// loss can still be followed by an update that overflows, and such a checkpoint must not
/// replace the last good one.
pub fn save_checkpoint<M: Module>(
    run: &Path,
    model: &M,
    optimizer: &ModuleOptimizer,
    state: &TrainerState,
) -> Result<(), TrainError> {
    let bad = non_finite_parameters(model);
    if bad > 0 {
        return Err(TrainError::NonFiniteWeights {
            step: state.global_step,
            tensors: bad,
        });
    }
    let final_dir = checkpoint_dir(run);
    let tmp = run.join(format!(".checkpoint.tmp-{}", std::process::id()));
    let old = run.join(".checkpoint.old");
    // Leftovers of writers that were killed (any process id) are never complete: drop them.
    if let Ok(entries) = std::fs::read_dir(run) {
        for entry in entries.flatten() {
            if entry
                .file_name()
                .to_string_lossy()
                .starts_with(".checkpoint.tmp-")
            {
                let path = entry.path();
                std::fs::remove_dir_all(&path).map_err(io(&path))?;
            }
        }
    }
    std::fs::create_dir_all(&tmp).map_err(io(&tmp))?;
    model
        .clone()
        .save_file(tmp.join(MODEL))
        .map_err(|e| TrainError::Checkpoint {
            path: tmp.join(MODEL),
            message: e.to_string(),
        })?;
    optimizer
        .save(tmp.join(OPTIMIZER))
        .map_err(|e| TrainError::Checkpoint {
            path: tmp.join(OPTIMIZER),
            message: e.to_string(),
        })?;
    let json = serde_json::to_vec_pretty(state).map_err(|e| TrainError::Checkpoint {
        path: tmp.join(STATE),
        message: e.to_string(),
    })?;
    std::fs::write(tmp.join(STATE), json).map_err(io(&tmp))?;
    for file in [MODEL, OPTIMIZER, STATE] {
        let path = tmp.join(file);
        std::fs::File::open(&path)
            .and_then(|f| f.sync_all())
            .map_err(io(&path))?;
    }
    // Swap: a complete checkpoint stays on disk until the new one is in place. `.checkpoint.old`
    // is only dropped while `checkpoint` is complete; when a previous swap died between its two
    // renames, `.checkpoint.old` is the only good copy and survives until the rename below.
    if final_dir.exists() {
        if old.exists() {
            std::fs::remove_dir_all(&old).map_err(io(&old))?;
        }
        std::fs::rename(&final_dir, &old).map_err(io(&final_dir))?;
    }
    std::fs::rename(&tmp, &final_dir).map_err(io(&tmp))?;
    if old.exists() {
        std::fs::remove_dir_all(&old).map_err(io(&old))?;
    }
    Ok(())
}

/// The newest complete checkpoint of a run: `checkpoint`, or `.checkpoint.old` when a swap was
/// interrupted between its two renames.
pub fn find_checkpoint(run: &Path) -> Option<PathBuf> {
    [checkpoint_dir(run), run.join(".checkpoint.old")]
        .into_iter()
        .find(|d| d.join(STATE).is_file() && d.join(MODEL).is_file() && d.join(OPTIMIZER).is_file())
}

/// Reads a checkpoint back into `model` (which must have the run's shapes) and into the
/// optimizer `make_optimizer` builds for the loaded model. The optimizer is built after the
/// model is loaded because parameter groups name parameters by id, and loading restores the
/// checkpoint's ids.
pub fn load_checkpoint<M: Module>(
    dir: &Path,
    model: M,
    make_optimizer: impl FnOnce(&M) -> ModuleOptimizer,
) -> Result<(M, ModuleOptimizer, TrainerState), TrainError> {
    let model = model
        .try_load_file(dir.join(MODEL))
        .map_err(|e| TrainError::Checkpoint {
            path: dir.join(MODEL),
            message: e.to_string(),
        })?;
    let optimizer = make_optimizer(&model)
        .load(dir.join(OPTIMIZER))
        .map_err(|e| TrainError::Checkpoint {
            path: dir.join(OPTIMIZER),
            message: e.to_string(),
        })?;
    let path = dir.join(STATE);
    let text = std::fs::read_to_string(&path).map_err(io(&path))?;
    let state = serde_json::from_str(&text).map_err(|e| TrainError::Checkpoint {
        path,
        message: e.to_string(),
    })?;
    Ok((model, optimizer, state))
}

/// The weights stored in a checkpoint, by parameter path, as raw little-endian bytes (to
/// compare runs: parameter ids differ between processes, values must not).
pub fn checkpoint_weights(
    dir: &Path,
) -> Result<std::collections::BTreeMap<String, Vec<u8>>, TrainError> {
    use burn_store::ModuleStore;
    let path = dir.join(MODEL);
    let mut store = burn_store::BurnpackStore::from_file(&path);
    let tensors = store
        .get_all_tensors()
        .map_err(|e| TrainError::Checkpoint {
            path: path.clone(),
            message: e.to_string(),
        })?;
    tensors
        .iter()
        .map(|(name, tensor)| {
            tensor
                .to_bytes()
                .map(|b| (name.clone(), b.to_vec()))
                .map_err(|e| TrainError::Checkpoint {
                    path: path.clone(),
                    message: e.to_string(),
                })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use burn::nn::{Linear, LinearConfig};
    use burn::prelude::*;

    use super::*;
    use crate::optimizer::{AdamWSettings, adamw};

    fn setup() -> (Linear, ModuleOptimizer) {
        let device = Device::flex();
        let model = LinearConfig::new(3, 2).init(&device);
        let optimizer = adamw(&model, &AdamWSettings::default());
        (model, optimizer)
    }

    fn state(step: usize) -> TrainerState {
        TrainerState {
            global_step: step,
            ..TrainerState::default()
        }
    }

    fn step_of(dir: &Path) -> usize {
        let text = std::fs::read_to_string(dir.join(STATE)).unwrap();
        serde_json::from_str::<TrainerState>(&text)
            .unwrap()
            .global_step
    }

    #[test]
    fn a_half_written_checkpoint_never_replaces_the_good_one() {
        let run = tempfile::tempdir().unwrap();
        let (model, optimizer) = setup();
        save_checkpoint(run.path(), &model, &optimizer, &state(4)).unwrap();
        // A writer killed mid-way leaves its temporary directory with a truncated model.
        let tmp = run.path().join(".checkpoint.tmp-99999");
        std::fs::create_dir_all(&tmp).unwrap();
        std::fs::write(tmp.join(MODEL), b"half a burnpack").unwrap();
        let found = find_checkpoint(run.path()).unwrap();
        assert_eq!(found, checkpoint_dir(run.path()));
        assert_eq!(step_of(&found), 4);
        let (_, _, back) = load_checkpoint(&found, model.clone(), |m| {
            adamw(m, &AdamWSettings::default())
        })
        .unwrap();
        assert_eq!(back.global_step, 4);
        // The next save goes through and clears the leftover.
        save_checkpoint(run.path(), &model, &optimizer, &state(5)).unwrap();
        assert_eq!(step_of(&find_checkpoint(run.path()).unwrap()), 5);
        assert!(!tmp.exists());
    }

    #[test]
    fn a_swap_killed_between_its_renames_keeps_the_old_copy_until_the_new_one_lands() {
        let run = tempfile::tempdir().unwrap();
        let (model, optimizer) = setup();
        save_checkpoint(run.path(), &model, &optimizer, &state(7)).unwrap();
        // Killed after `checkpoint` -> `.checkpoint.old`, before the new one was renamed in.
        let old = run.path().join(".checkpoint.old");
        std::fs::rename(checkpoint_dir(run.path()), &old).unwrap();
        let found = find_checkpoint(run.path()).unwrap();
        assert_eq!(found, old);
        assert_eq!(step_of(&found), 7);
        // Saving from this state must not drop `.checkpoint.old` before `checkpoint` exists.
        save_checkpoint(run.path(), &model, &optimizer, &state(8)).unwrap();
        assert_eq!(step_of(&checkpoint_dir(run.path())), 8);
        assert!(
            !old.exists(),
            "the stale copy is cleaned up once the new one is in place"
        );
    }

    #[test]
    fn weights_with_nan_never_replace_the_last_good_checkpoint() {
        let run = tempfile::tempdir().unwrap();
        let (model, optimizer) = setup();
        save_checkpoint(run.path(), &model, &optimizer, &state(3)).unwrap();
        let mut broken = model.clone();
        broken.weight = broken.weight.map(|w| w.mul_scalar(f32::NAN));
        assert_eq!(non_finite_parameters(&broken), 1);
        let err = save_checkpoint(run.path(), &broken, &optimizer, &state(4)).unwrap_err();
        assert!(
            matches!(
                err,
                TrainError::NonFiniteWeights {
                    step: 4,
                    tensors: 1
                }
            ),
            "{err}"
        );
        assert_eq!(step_of(&find_checkpoint(run.path()).unwrap()), 3);
    }

    #[test]
    fn an_incomplete_checkpoint_directory_is_not_resumed_from() {
        let run = tempfile::tempdir().unwrap();
        let dir = checkpoint_dir(run.path());
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(STATE), "{}").unwrap();
        assert_eq!(find_checkpoint(run.path()), None);
    }
}
