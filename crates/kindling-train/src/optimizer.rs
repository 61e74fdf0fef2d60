//! AdamW as `transformers` configures it, on burn-optim: decoupled weight decay that skips
//! biases and layer-norm parameters, and clipping of the global gradient norm.

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param, ParamGroup, ParamId};
use burn::optim::{
    AdamW, AdamWConfig, AdamWState, AdaptiveMomentumState, GradientsParams, LearningRate,
    ModuleOptimizer, Optimizer,
};
use burn::prelude::*;
use kindling_body::kernels;

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

/// burn-optim's `AdamW` with a one-pass update where kindling has a kernel for it
/// ([`kernels::adamw_step`]: Flex, float32), and burn-optim's own step elsewhere. Its state is
/// burn-optim's [`AdamWState`], so checkpoints of either resume with the other.
#[derive(Clone)]
pub struct FusedAdamW {
    settings: AdamWSettings,
    weight_decay: f32,
    fallback: AdamW,
}

impl FusedAdamW {
    /// AdamW with `settings`' betas and epsilon and this weight decay.
    pub fn new(settings: &AdamWSettings, weight_decay: f64) -> Self {
        Self {
            settings: *settings,
            weight_decay: weight_decay as f32,
            fallback: AdamWConfig::new()
                .with_beta_1(settings.beta1 as f32)
                .with_beta_2(settings.beta2 as f32)
                .with_epsilon(settings.epsilon as f32)
                .with_weight_decay(weight_decay as f32)
                .build(),
        }
    }
}

impl Optimizer for FusedAdamW {
    type State<const D: usize> = AdamWState<D>;

    fn step<const D: usize>(
        &self,
        lr: LearningRate,
        tensor: Tensor<D>,
        grad: Tensor<D>,
        state: Option<Self::State<D>>,
    ) -> (Tensor<D>, Option<Self::State<D>>) {
        let previous = state.as_ref().map_or(0, |s| s.momentum.time);
        let amsgrad = state
            .as_ref()
            .is_some_and(|s| s.momentum.max_moment_2.is_some());
        if amsgrad {
            return self.fallback.step(lr, tensor, grad, state);
        }
        let step = kernels::AdamWStep {
            lr,
            beta_1: self.settings.beta1 as f32,
            beta_2: self.settings.beta2 as f32,
            epsilon: self.settings.epsilon as f32,
            weight_decay: self.weight_decay,
            time: previous + 1,
        };
        let moments = state.map(|s| (s.momentum.moment_1, s.momentum.moment_2));
        match kernels::adamw_step(tensor, grad, moments, &step) {
            Ok((tensor, m, v)) => {
                let momentum = AdaptiveMomentumState::new(previous + 1, m, v);
                (tensor, Some(AdamWState::new(momentum)))
            }
            Err((tensor, grad, moments)) => {
                let state = moments
                    .map(|(m, v)| AdamWState::new(AdaptiveMomentumState::new(previous, m, v)));
                self.fallback.step(lr, tensor, grad, state)
            }
        }
    }

    fn to_device<const D: usize>(state: Self::State<D>, device: &Device) -> Self::State<D> {
        <AdamW as Optimizer>::to_device(state, device)
    }
}

/// AdamW with `settings.weight_decay` on weights and none on biases and layer norms.
pub fn adamw<M: Module>(module: &M, settings: &AdamWSettings) -> ModuleOptimizer {
    ModuleOptimizer::from(FusedAdamW::new(settings, settings.weight_decay)).with_group(
        ParamGroup::from_ids(no_decay_parameters(module)),
        FusedAdamW::new(settings, 0.0),
        None,
    )
}

struct SquaredNorm<'a> {
    grads: &'a GradientsParams,
    total: f64,
}

impl ModuleVisitor for SquaredNorm<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if let Some(grad) = self.grads.get::<D>(param.id) {
            self.total += kernels::sum_of_squares(&grad);
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
            self.grads
                .register::<D>(param.id, kernels::scale(grad, self.factor));
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
    let mut norm = SquaredNorm { grads, total: 0.0 };
    module.visit(&mut norm);
    let total = norm.total.sqrt();
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
