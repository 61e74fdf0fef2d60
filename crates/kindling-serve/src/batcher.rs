//! Dynamic batching: requests wait in a queue; one model thread, off the async runtime, takes
//! as many as fit the token budget (`--max-batch-tokens`, `--max-batch-requests`) in arrival
//! order, runs the inputs of those that ask for the same work in shared forward passes, and
//! answers each through its own channel.
//!
//! The queue holds only accepted requests, and the routes accept at most
//! `--max-concurrent-requests` at once, so it is bounded. A request whose client has gone is
//! dropped before it costs a forward pass.

use std::collections::VecDeque;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::JoinHandle;

use kindling::KindlingError;
use kindling::pipelines::{BatchLimits, PipelineInput};
use serde_json::Value;
use tokio::sync::oneshot;

use crate::metrics::Metrics;
use crate::served::{ServedModel, Work};

/// What a job gets back: one result per input.
pub type JobResults = Vec<Result<Value, KindlingError>>;

/// One request's inputs waiting for the model.
pub struct Job {
    /// What it asks for.
    pub work: Work,
    /// Its inputs.
    pub inputs: Vec<PipelineInput>,
    /// Their tokens, for the budget.
    pub tokens: usize,
    /// Where the answer goes.
    pub reply: oneshot::Sender<JobResults>,
}

struct State {
    jobs: VecDeque<Job>,
    closed: bool,
}

struct Queue {
    state: Mutex<State>,
    ready: Condvar,
}

/// How much one batch takes.
#[derive(Debug, Clone, Copy)]
pub struct BatchBudget {
    /// Tokens, summed over the batch's requests.
    pub max_tokens: usize,
    /// Requests.
    pub max_requests: usize,
}

/// The queue and its model thread.
pub struct Batcher {
    queue: Arc<Queue>,
    worker: Mutex<Option<JoinHandle<()>>>,
}

/// The batcher has stopped taking requests.
#[derive(Debug)]
pub struct Closed;

impl Batcher {
    /// Starts the model thread.
    pub fn start(model: Arc<ServedModel>, budget: BatchBudget, metrics: Arc<Metrics>) -> Self {
        let queue = Arc::new(Queue {
            state: Mutex::new(State {
                jobs: VecDeque::new(),
                closed: false,
            }),
            ready: Condvar::new(),
        });
        let worker_queue = queue.clone();
        let worker = std::thread::Builder::new()
            .name("kindling-model".into())
            .spawn(move || work(&worker_queue, &model, budget, &metrics))
            .ok();
        Self {
            queue,
            worker: Mutex::new(worker),
        }
    }

    /// Queues a job; `Closed` once the server is stopping.
    pub fn submit(&self, job: Job, metrics: &Metrics) -> Result<(), Closed> {
        let mut state = self
            .queue
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if state.closed || !self.alive() {
            return Err(Closed);
        }
        state.jobs.push_back(job);
        metrics.queue_depth.set(state.jobs.len() as i64);
        drop(state);
        self.queue.ready.notify_one();
        Ok(())
    }

    /// Whether the model thread is running.
    pub fn alive(&self) -> bool {
        self.worker
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
            .is_some_and(|w| !w.is_finished())
    }

    /// Stops taking jobs, lets the model thread finish the queued ones, and waits for it.
    pub fn shutdown(&self) {
        self.queue
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .closed = true;
        self.queue.ready.notify_all();
        let worker = self
            .worker
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(worker) = worker {
            let _ = worker.join();
        }
    }
}

/// Takes the next batch: the first waiting job, then the ones after it while the budget
/// holds. Jobs whose client has gone are dropped. `None` once closed and drained.
fn next_batch(queue: &Queue, budget: BatchBudget, metrics: &Metrics) -> Option<Vec<Job>> {
    let mut state = queue.state.lock().unwrap_or_else(PoisonError::into_inner);
    loop {
        while let Some(job) = state.jobs.front() {
            if !job.reply.is_closed() {
                break;
            }
            state.jobs.pop_front();
            metrics.abandoned.inc();
        }
        if !state.jobs.is_empty() {
            break;
        }
        if state.closed {
            return None;
        }
        state = queue
            .ready
            .wait(state)
            .unwrap_or_else(PoisonError::into_inner);
    }
    let mut batch = Vec::new();
    let mut tokens = 0;
    while let Some(job) = state.jobs.front() {
        if job.reply.is_closed() {
            state.jobs.pop_front();
            metrics.abandoned.inc();
            continue;
        }
        let fits = batch.len() < budget.max_requests && tokens + job.tokens <= budget.max_tokens;
        if !batch.is_empty() && !fits {
            break;
        }
        tokens += job.tokens;
        batch.extend(state.jobs.pop_front());
    }
    metrics.queue_depth.set(state.jobs.len() as i64);
    Some(batch)
}

/// The model thread: batch after batch until the queue closes and drains.
fn work(queue: &Queue, model: &ServedModel, budget: BatchBudget, metrics: &Metrics) {
    let limits = BatchLimits {
        max_rows: budget.max_requests.max(BatchLimits::default().max_rows),
        max_tokens: budget.max_tokens,
    };
    while let Some(batch) = next_batch(queue, budget, metrics) {
        metrics.batch_requests.observe(batch.len() as f64);
        metrics
            .batch_inputs
            .observe(batch.iter().map(|j| j.inputs.len()).sum::<usize>() as f64);
        let tokens: usize = batch.iter().map(|j| j.tokens).sum();
        metrics.batch_tokens.observe(tokens as f64);
        metrics.tokens.inc_by(tokens as u64);
        // Jobs asking for the same work share forward passes; others run after, in order.
        let mut groups: Vec<(Work, Vec<Job>)> = Vec::new();
        for job in batch {
            match groups.iter_mut().find(|(work, _)| *work == job.work) {
                Some((_, jobs)) => jobs.push(job),
                None => groups.push((job.work.clone(), vec![job])),
            }
        }
        for (work, jobs) in groups {
            let inputs: Vec<PipelineInput> =
                jobs.iter().flat_map(|j| j.inputs.iter().cloned()).collect();
            let results = catch_unwind(AssertUnwindSafe(|| model.run(&work, &inputs, limits)))
                .unwrap_or_else(|panic| {
                    let message = panic
                        .downcast_ref::<String>()
                        .cloned()
                        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                        .unwrap_or_else(|| "the model panicked".into());
                    tracing::error!(%message, "model panic, answered 500");
                    inputs
                        .iter()
                        .map(|_| {
                            Err(KindlingError::Forward {
                                task: model.task().pipeline_name().into(),
                                message: message.clone(),
                            })
                        })
                        .collect()
                });
            let mut results = results.into_iter();
            for job in jobs {
                let mine: JobResults = results.by_ref().take(job.inputs.len()).collect();
                // The client may have gone meanwhile; its answer is dropped.
                let _ = job.reply.send(mine);
            }
        }
    }
}
