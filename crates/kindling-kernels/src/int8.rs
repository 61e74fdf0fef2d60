//! Dynamic int8 quantization of a model's linear layers, for inference on the CPU.
//!
//! [`quantize_linears`] replaces the weight of every `burn::nn::Linear` in a module by int8
//! values with one symmetric scale per output column, packed for the kernels. Each call of
//! [`linear`](crate::linear) on such a layer then quantizes the rows of its input on the fly
//! (one symmetric scale per row), multiplies in int32 with the AVX-512 VNNI or AVX2 kernel
//! the CPU has, and scales back to float32 onto the bias. The float weight is dropped: the
//! parameter becomes lazy, and only code that asks for its value (another backend, an
//! autodiff pass, an export) gets the dequantized weight back.
//!
//! The packed weight rides on the parameter as a Burn
//! [reparameterization](burn::module::Reparameterization) whose effective value is the
//! dequantized weight, so the module tree, its paths and every other parameter stay as they
//! were.

/// What [`quantize_linears`] did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct QuantizeReport {
    /// Module paths of the quantized weights (`encoder.layer.0.attention.self_attention.query.weight`).
    pub quantized: Vec<String>,
    /// Float32 bytes the quantized weights held.
    pub float_bytes: usize,
    /// Bytes their int8 form holds (values, scales and column sums).
    pub int8_bytes: usize,
}

/// A linear weight already in int8: what a quantized checkpoint stores (compressed-tensors'
/// `int-quantized` format: `weight` int8 `[d_out, d_in]`, `weight_scale` `[d_out, 1]`).
#[derive(Debug, Clone, PartialEq)]
pub struct Int8Values {
    /// Output width.
    pub d_out: usize,
    /// Input width.
    pub d_in: usize,
    /// Row-major `[d_out, d_in]`: one row of inputs per output column.
    pub values: Vec<i8>,
    /// One scale per output column: the weight is `values · scale`.
    pub scales: Vec<f32>,
}

impl Int8Values {
    /// The float weight these values stand for, row-major `[d_out, d_in]` (PyTorch's layout).
    pub fn dequantize(&self) -> Vec<f32> {
        self.values
            .chunks_exact(self.d_in.max(1))
            .zip(&self.scales)
            .flat_map(|(row, &scale)| row.iter().map(move |&v| f32::from(v) * scale))
            .collect()
    }
}

/// What [`quantize_linears_with`] does with one linear weight.
#[derive(Debug, Clone)]
pub enum LinearInt8 {
    /// Quantize its float value (per output column, compressed-tensors' rule).
    FromFloat,
    /// Use these int8 values and scales as they are (a quantized checkpoint's).
    Exact(std::sync::Arc<Int8Values>),
    /// Leave it in float (a layer the checkpoint kept out of quantization).
    Keep,
}

/// Why a module could not be quantized.
#[derive(Debug, thiserror::Error)]
pub enum QuantizeError {
    /// The build has no Flex backend, where the int8 kernels live.
    #[error("int8 inference needs the `flex` feature (Burn's Flex CPU backend)")]
    NoFlex,
    /// Int8 values given for a weight do not have its shape.
    #[error("int8 values for `{path}` are {found:?} ([d_out, d_in]); the layer is {expected:?}")]
    Shape {
        /// The weight's module path.
        path: String,
        /// The layer's `[d_out, d_in]`.
        expected: [usize; 2],
        /// The values' `[d_out, d_in]`.
        found: [usize; 2],
    },
    /// A linear weight lives on another device or in another dtype.
    #[error("int8 inference runs on the flex device in float32; `{path}` is {dtype:?} on {device}")]
    Unsupported {
        /// The weight's module path.
        path: String,
        /// Its dtype.
        dtype: burn::tensor::DType,
        /// Its device.
        device: String,
    },
}

#[cfg(feature = "flex")]
pub use flex_int8::{Int8Weight, int8_weights, quantize_linears_with};

/// Quantizes the weight of every `Linear` in `module` to int8 (per output column, with
/// inputs quantized per row at each call), which must be on the flex device in float32
/// and not tracking gradients.
///
/// Call it last, on the model ready for inference: moving or mapping the module afterwards
/// (`to_device`, `valid`, `fork`) brings the float weights back (dequantized), though the
/// int8 kernels still run.
pub fn quantize_linears<M: burn::module::Module>(
    module: M,
) -> Result<(M, QuantizeReport), QuantizeError> {
    quantize_linears_with(module, |_| LinearInt8::FromFloat)
}

#[cfg(not(feature = "flex"))]
/// Without the `flex` feature there are no int8 kernels: always [`QuantizeError::NoFlex`].
pub fn quantize_linears_with<M: burn::module::Module>(
    _module: M,
    _choose: impl FnMut(&str) -> LinearInt8,
) -> Result<(M, QuantizeReport), QuantizeError> {
    Err(QuantizeError::NoFlex)
}

#[cfg(not(feature = "flex"))]
/// Without the `flex` feature no module holds int8 weights: always empty.
pub fn int8_weights<M: burn::module::Module>(
    _module: &M,
) -> std::collections::BTreeMap<String, Int8Values> {
    Default::default()
}

/// The module paths of every `Linear` weight in `module`, as burn-store names them (enum
/// variants left out: `encoder.layer.0.attention.query.weight`).
pub fn linear_weight_paths<M: burn::module::Module>(module: &M) -> Vec<String> {
    let mut finder = LinearWeights::default();
    module.visit(&mut finder);
    finder.found.into_values().collect()
}

/// Collects the `Linear` weights of a module: the path Burn's reparameterizer is shown (every
/// module entered) and the path burn-store names it by (enum variants left out).
#[derive(Default)]
struct LinearWeights {
    path: Vec<(String, String)>,
    /// Reparameterizer path to burn-store path.
    found: std::collections::BTreeMap<String, String>,
}

impl LinearWeights {
    /// The (reparameterizer, burn-store) paths of the parameter being visited, when it is a
    /// `Linear` weight.
    fn current(&self, rank: usize) -> Option<(String, String)> {
        let (name, container) = self.path.last()?;
        if rank != 2 || name != "weight" || container != "Struct:Linear" {
            return None;
        }
        let full = self
            .path
            .iter()
            .map(|(n, _)| n.as_str())
            .collect::<Vec<_>>();
        let stored = self
            .path
            .iter()
            .filter(|(_, kind)| !kind.starts_with("Enum:"))
            .map(|(n, _)| n.as_str())
            .collect::<Vec<_>>();
        Some((full.join("."), stored.join(".")))
    }
}

impl burn::module::ModuleVisitor for LinearWeights {
    fn enter_module(&mut self, name: &str, container_type: &str) {
        self.path
            .push((name.to_string(), container_type.to_string()));
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.pop();
    }

    fn visit_float<const D: usize>(&mut self, _param: &burn::module::Param<burn::Tensor<D>>) {
        if let Some((full, stored)) = self.current(D) {
            self.found.insert(full, stored);
        }
    }
}

#[cfg(feature = "flex")]
mod flex_int8 {
    use std::collections::{BTreeMap, HashMap};
    use std::sync::{Arc, Mutex, OnceLock, Weak};

    use burn::module::{
        Module, ModuleVisitor, Param, ParamId, Reparameterization, Reparameterizer,
    };
    use burn::prelude::*;
    use burn::tensor::DType;

    use super::{Int8Values, LinearInt8, LinearWeights, QuantizeError, QuantizeReport};
    use crate::cpu::int8::{ActivationBits, Int8Kernel, PackedInt8};
    use crate::flex::is_flex_device;

    /// A linear layer's weight in int8: per output column, symmetric, packed for the kernels.
    ///
    /// Attached to the layer's weight parameter; its effective value is the parameter's (lazy)
    /// base, the dequantized weight.
    #[derive(Module, Debug)]
    pub struct Int8Weight {
        #[module(skip)]
        packed: Arc<PackedInt8>,
    }

    impl Int8Weight {
        /// The packed weight.
        pub(crate) fn packed(&self) -> &PackedInt8 {
            &self.packed
        }

        /// Input width.
        pub fn d_in(&self) -> usize {
            self.packed.d_in()
        }

        /// Output width.
        pub fn d_out(&self) -> usize {
            self.packed.d_out()
        }

        /// How the inputs of this layer's products are quantized: seven bits where a float
        /// model was quantized for the plain AVX2 kernel, eight otherwise.
        pub fn activations(&self) -> ActivationBits {
            self.packed.activations()
        }

        /// The per-output-column scales.
        pub fn scales(&self) -> &[f32] {
            self.packed.scales()
        }

        /// The int8 value of input `k`, output column `n`.
        pub fn value(&self, k: usize, n: usize) -> i8 {
            self.packed.value(k, n)
        }
    }

    impl Reparameterization for Int8Weight {
        const NAME: &'static str = "int8";

        fn apply<const D: usize>(&self, base: Tensor<D>) -> Tensor<D> {
            // The base is already the dequantized weight.
            base
        }
    }

    /// Picks and applies, weight by weight, what [`quantize_linears_with`] was asked.
    struct Quantizer<F> {
        /// Reparameterizer path to burn-store path, for every `Linear` weight.
        linears: BTreeMap<String, String>,
        choose: F,
        report: QuantizeReport,
        error: Option<QuantizeError>,
    }

    impl<F: FnMut(&str) -> LinearInt8> Quantizer<F> {
        fn fail(&mut self, error: QuantizeError) {
            self.error.get_or_insert(error);
        }

        fn quantize<const D: usize>(
            &mut self,
            path: &str,
            param: Param<Tensor<D>>,
        ) -> (Param<Tensor<D>>, Option<Int8Weight>) {
            if D != 2 || self.error.is_some() {
                return (param, None);
            }
            let Some(stored) = self.linears.get(path).cloned() else {
                return (param, None);
            };
            let choice = (self.choose)(&stored);
            let device = param.lazy_device();
            let [d_in, d_out] = {
                let shape = param.lazy_shape();
                [shape[0], shape[1]]
            };
            let packed = match choice {
                LinearInt8::Keep => return (param, None),
                _ if !is_flex_device(&device) || device.is_autodiff() => {
                    self.fail(QuantizeError::Unsupported {
                        path: stored,
                        dtype: DType::F32,
                        device: format!("{device:?}"),
                    });
                    return (param, None);
                }
                LinearInt8::Exact(exact) => {
                    if [exact.d_out, exact.d_in] != [d_out, d_in] {
                        self.fail(QuantizeError::Shape {
                            path: stored,
                            expected: [d_out, d_in],
                            found: [exact.d_out, exact.d_in],
                        });
                        return (param, None);
                    }
                    PackedInt8::from_quantized(&exact.values, exact.scales.clone(), d_in, d_out)
                }
                LinearInt8::FromFloat => {
                    let weight = param.val();
                    if weight.dtype() != DType::F32 {
                        self.fail(QuantizeError::Unsupported {
                            path: stored,
                            dtype: weight.dtype(),
                            device: format!("{device:?}"),
                        });
                        return (param, None);
                    }
                    match weight.into_data().try_into_vec::<f32>() {
                        // Seven-bit activations where the kernel is plain AVX2 (see
                        // `ActivationBits`); a checkpoint's own int8 keeps its `W8A8`.
                        Ok(values) => PackedInt8::quantize(&values, d_in, d_out)
                            .with_activations(ActivationBits::for_kernel(Int8Kernel::detect())),
                        Err(e) => {
                            self.fail(QuantizeError::Unsupported {
                                path: format!("{stored} ({e:?})"),
                                dtype: DType::F32,
                                device: format!("{device:?}"),
                            });
                            return (param, None);
                        }
                    }
                }
            };
            let packed = Arc::new(packed);
            // A fresh id: a float copy of the module from before quantization keeps the old
            // one, and must not be taken for the int8 weight.
            let id = ParamId::new();
            register(id, &packed);
            self.report.quantized.push(stored);
            self.report.float_bytes += 4 * d_in * d_out;
            self.report.int8_bytes += packed.bytes();
            let lazy = Arc::clone(&packed);
            let base = Param::uninitialized(
                id,
                move |device: &Device, _| {
                    let data = TensorData::new(lazy.dequantize(), [d_in, d_out]);
                    Tensor::<D>::from_data(data, device)
                },
                device,
                false,
                [d_in, d_out].into(),
            );
            (base, Some(Int8Weight { packed }))
        }
    }

    /// [`quantize_linears`](super::quantize_linears), with `choose` deciding each `Linear`
    /// weight (given its burn-store path, `encoder.layer.0.attention.query.weight`): quantize
    /// its float value, take int8 values as they are, or keep it in float.
    pub fn quantize_linears_with<M: Module>(
        module: M,
        choose: impl FnMut(&str) -> LinearInt8,
    ) -> Result<(M, QuantizeReport), QuantizeError> {
        let mut finder = LinearWeights::default();
        module.visit(&mut finder);
        let mut quantizer = Quantizer {
            linears: finder.found,
            choose,
            report: QuantizeReport::default(),
            error: None,
        };
        let module = module.apply_reparameterization(&mut quantizer);
        match quantizer.error {
            Some(error) => Err(error),
            None => Ok((module, quantizer.report)),
        }
    }

    /// The packed weight of every quantized parameter still alive, by parameter id.
    ///
    /// Burn shows a visitor a reparameterized parameter without its reparameterization, so
    /// [`int8_weights`] finds the int8 form of a weight through its id.
    fn registry() -> &'static Mutex<HashMap<ParamId, Weak<PackedInt8>>> {
        static REGISTRY: OnceLock<Mutex<HashMap<ParamId, Weak<PackedInt8>>>> = OnceLock::new();
        REGISTRY.get_or_init(Default::default)
    }

    fn register(id: ParamId, packed: &Arc<PackedInt8>) {
        let mut registry = registry().lock().unwrap_or_else(|e| e.into_inner());
        registry.retain(|_, weak| weak.strong_count() > 0);
        registry.insert(id, Arc::downgrade(packed));
    }

    /// The int8 weights of a quantized module by burn-store path, as a quantized checkpoint
    /// stores them (what saving writes).
    pub fn int8_weights<M: Module>(module: &M) -> BTreeMap<String, Int8Values> {
        struct Collect {
            linears: LinearWeights,
            found: BTreeMap<String, Int8Values>,
        }
        impl ModuleVisitor for Collect {
            fn enter_module(&mut self, name: &str, container_type: &str) {
                self.linears.enter_module(name, container_type);
            }
            fn exit_module(&mut self, name: &str, container_type: &str) {
                self.linears.exit_module(name, container_type);
            }
            fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
                if let Some((_, stored)) = self.linears.current(D) {
                    let registry = registry().lock().unwrap_or_else(|e| e.into_inner());
                    if let Some(packed) = registry.get(&param.id).and_then(Weak::upgrade) {
                        self.found.insert(stored, packed.to_values());
                    }
                }
            }
        }
        let mut collect = Collect {
            linears: LinearWeights::default(),
            found: BTreeMap::new(),
        };
        module.visit(&mut collect);
        collect.found
    }

    /// Burn's traversal takes the reparameterizer by value: it borrows the quantizer, which
    /// keeps the report.
    impl<F: FnMut(&str) -> LinearInt8> Reparameterizer for &mut Quantizer<F> {
        type Reparam = Int8Weight;

        fn reparameterize<const D: usize>(
            &mut self,
            path: &str,
            param: Param<Tensor<D>>,
        ) -> (Param<Tensor<D>>, Option<Int8Weight>) {
            self.quantize(path, param)
        }
    }
}
