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

/// Why a module could not be quantized.
#[derive(Debug, thiserror::Error)]
pub enum QuantizeError {
    /// The build has no Flex backend, where the int8 kernels live.
    #[error("int8 inference needs the `flex` feature (Burn's Flex CPU backend)")]
    NoFlex,
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
pub use flex_int8::{Int8Weight, quantize_linears};

#[cfg(not(feature = "flex"))]
/// Without the `flex` feature there are no int8 kernels: always [`QuantizeError::NoFlex`].
pub fn quantize_linears<M: burn::module::Module>(
    _module: M,
) -> Result<(M, QuantizeReport), QuantizeError> {
    Err(QuantizeError::NoFlex)
}

#[cfg(feature = "flex")]
mod flex_int8 {
    use std::collections::BTreeSet;
    use std::sync::Arc;

    use burn::module::{Module, ModuleVisitor, Param, Reparameterization, Reparameterizer};
    use burn::prelude::*;
    use burn::tensor::DType;

    use super::{QuantizeError, QuantizeReport};
    use crate::cpu::int8::PackedInt8;
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

    /// Collects the paths of `Linear` weights (the path the reparameterizer is shown).
    #[derive(Default)]
    struct LinearWeights {
        path: Vec<(String, String)>,
        found: BTreeSet<String>,
    }

    impl ModuleVisitor for LinearWeights {
        fn enter_module(&mut self, name: &str, container_type: &str) {
            self.path
                .push((name.to_string(), container_type.to_string()));
        }

        fn exit_module(&mut self, _name: &str, _container_type: &str) {
            self.path.pop();
        }

        fn visit_float<const D: usize>(&mut self, _param: &Param<Tensor<D>>) {
            if let Some((name, container)) = self.path.last()
                && D == 2
                && name == "weight"
                && container == "Struct:Linear"
            {
                let path = self
                    .path
                    .iter()
                    .map(|(n, _)| n.as_str())
                    .collect::<Vec<_>>();
                self.found.insert(path.join("."));
            }
        }
    }

    struct Quantizer {
        linears: BTreeSet<String>,
        report: QuantizeReport,
        error: Option<QuantizeError>,
    }

    impl Quantizer {
        fn quantize<const D: usize>(
            &mut self,
            path: &str,
            param: Param<Tensor<D>>,
        ) -> (Param<Tensor<D>>, Option<Int8Weight>) {
            if D != 2 || self.error.is_some() || !self.linears.contains(path) {
                return (param, None);
            }
            let weight = param.val();
            let device = weight.device();
            if weight.dtype() != DType::F32 || !is_flex_device(&device) || device.is_autodiff() {
                self.error = Some(QuantizeError::Unsupported {
                    path: path.to_string(),
                    dtype: weight.dtype(),
                    device: format!("{device:?}"),
                });
                return (param, None);
            }
            let [d_in, d_out] = [weight.dims()[0], weight.dims()[1]];
            let values = match weight.into_data().try_into_vec::<f32>() {
                Ok(values) => values,
                Err(e) => {
                    self.error = Some(QuantizeError::Unsupported {
                        path: format!("{path} ({e:?})"),
                        dtype: DType::F32,
                        device: format!("{device:?}"),
                    });
                    return (param, None);
                }
            };
            let packed = Arc::new(PackedInt8::quantize(&values, d_in, d_out));
            drop(values);
            self.report.quantized.push(path.to_string());
            self.report.float_bytes += 4 * d_in * d_out;
            self.report.int8_bytes += packed.bytes();
            let lazy = Arc::clone(&packed);
            let base = Param::uninitialized(
                param.id,
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

    /// Quantizes the weight of every `Linear` in `module` to int8 (per output column, with
    /// inputs quantized per row at each call), which must be on the flex device in float32
    /// and not tracking gradients.
    ///
    /// Call it last, on the model ready for inference: moving or mapping the module afterwards
    /// (`to_device`, `valid`, `fork`) brings the float weights back (dequantized), though the
    /// int8 kernels still run.
    pub fn quantize_linears<M: Module>(module: M) -> Result<(M, QuantizeReport), QuantizeError> {
        let mut finder = LinearWeights::default();
        module.visit(&mut finder);
        let quantizer = Quantizer {
            linears: finder.found,
            report: QuantizeReport::default(),
            error: None,
        };
        let mut quantizer = quantizer;
        let module = module.apply_reparameterization(&mut quantizer);
        match quantizer.error {
            Some(error) => Err(error),
            None => Ok((module, quantizer.report)),
        }
    }

    /// Burn's traversal takes the reparameterizer by value: it borrows the quantizer, which
    /// keeps the report.
    impl Reparameterizer for &mut Quantizer {
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
