//! AdamW as `transformers` configures it, on burn-optim: decoupled weight decay that skips
//! biases and layer-norm parameters, and clipping of the global gradient norm.

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param, ParamGroup, ParamId};
use burn::optim::{AdamWConfig, GradientsParams, ModuleOptimizer};
use burn::prelude::*;

/// AdamW hyper-parameters (the `TrainingArguments` defaults of `transformers`).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct AdamWSettings {
    /// Decoupled weight decay for weights (not biases or layer norms).
    pub weight_decay: f64,
    /// β₁.
    pub beta1: f64,
    /// β₂.
    pub beta2: f64,
    /// ε (1e-8 in `transformers`, 1e-5 in Burn's default).
    pub epsilon: f64,
}

impl Default for AdamWSettings {
    fn default() -> Self {
        Self {
            weight_decay: 0.01,
            beta1: 0.9,
            beta2: 0.999,
            epsilon: 1e-8,
        }
    }
}

/// Collects the ids of parameters `transformers` exempts from weight decay: every bias and
/// every layer-norm parameter.
#[derive(Default)]
struct NoDecayCollector {
    path: Vec<String>,
    containers: Vec<String>,
    ids: Vec<ParamId>,
}

impl ModuleVisitor for NoDecayCollector {
    fn enter_module(&mut self, name: &str, container_type: &str) {
        self.path.push(name.to_string());
        self.containers.push(container_type.to_string());
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.pop();
        self.containers.pop();
    }

    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let in_layer_norm = self.containers.iter().any(|c| c == "Struct:LayerNorm");
        let is_bias = self.path.last().is_some_and(|n| n.contains("bias"));
        if in_layer_norm || is_bias {
            self.ids.push(param.id);
        }
    }
}

/// The ids of the parameters exempt from weight decay.
pub fn no_decay_parameters<M: Module>(module: &M) -> Vec<ParamId> {
    let mut collector = NoDecayCollector::default();
    module.visit(&mut collector);
    collector.ids
}

/// AdamW with `settings.weight_decay` on weights and none on biases and layer norms.
pub fn adamw<M: Module>(module: &M, settings: &AdamWSettings) -> ModuleOptimizer {
    let config = |decay: f64| {
        AdamWConfig::new()
            .with_beta_1(settings.beta1 as f32)
            .with_beta_2(settings.beta2 as f32)
            .with_epsilon(settings.epsilon as f32)
            .with_weight_decay(decay as f32)
    };
    config(settings.weight_decay).init().with_group(
        ParamGroup::from_ids(no_decay_parameters(module)),
        config(0.0).build(),
        None,
    )
}

struct SquaredNorm<'a> {
    grads: &'a GradientsParams,
    total: Option<Tensor<1>>,
}

impl ModuleVisitor for SquaredNorm<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if let Some(grad) = self.grads.get::<D>(param.id) {
            let sq = grad.powi_scalar(2).sum();
            self.total = Some(match self.total.take() {
                Some(total) => total + sq,
                None => sq,
            });
        }
    }
}

struct ScaleGrads<'a> {
    grads: &'a mut GradientsParams,
    factor: f64,
}

impl ModuleMapper for ScaleGrads<'_> {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        if let Some(grad) = self.grads.remove::<D>(param.id) {
            self.grads.register::<D>(param.id, grad * self.factor);
        }
        param
    }
}

/// Clips the gradients to a global L2 norm of `max_norm` over all parameters, as
/// `torch.nn.utils.clip_grad_norm_` does; returns the norm before clipping.
pub fn clip_global_norm<M: Module>(
    module: M,
    grads: &mut GradientsParams,
    max_norm: f64,
) -> (M, f64) {
    let mut norm = SquaredNorm { grads, total: None };
    module.visit(&mut norm);
    let total = norm
        .total
        .map(|t| t.into_scalar::<f64>().sqrt())
        .unwrap_or(0.0);
    // torch: clip_coef = max_norm / (total + 1e-6), applied only when it is below 1.
    let coef = max_norm / (total + 1e-6);
    if coef < 1.0 {
        let module = module.map(&mut ScaleGrads {
            grads,
            factor: coef,
        });
        return (module, total);
    }
    (module, total)
}
