//! Kindling's kernels as autodiff operations on Flex (training): each forward runs the
//! kernel and registers one backward node that computes every input's gradient in one pass,
//! where Burn would record (and later differentiate) each elementary operation.

// `Err` hands the inputs back to the caller's fallback path; `Ok` carries tensors of the same
// size, so boxing the error would only add an allocation per call.
#![allow(clippy::result_large_err)]

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::NoCheckpointing;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, NodeGuard, Ops, OpsKind, unary};
use burn::backend::flex::FlexTensor;
use burn::backend::{Autodiff, Flex};
use burn::nn::{Embedding, LayerNorm, Linear};
use burn::prelude::*;
use burn::tensor::DType;
use rayon::prelude::*;

use super::{
    AttentionInputs, BiasParts, NORM_ROWS, Operand, contiguous, dropout_draw, from_vec,
    gelu_in_parallel, linear_values, map_in_place, product, values,
};
use crate::AttentionBias;
use crate::cpu::activation::gelu_backward_in_place;
use crate::cpu::attention::{
    AttentionShape, ProbsDropout, attention_backward, attention_train, probs_len,
};
use crate::cpu::norm::{layer_norm_backward_rows, layer_norm_rows};

/// The autodiff primitive of a float32 tensor on Flex with autodiff (Burn's default strategy,
/// no gradient checkpointing).
pub(super) fn autodiff32<const D: usize>(
    tensor: Tensor<D>,
) -> Result<<Autodiff<Flex> as burn::backend::BackendTypes>::FloatTensorPrimitive, Tensor<D>> {
    if tensor.dtype() != DType::F32 {
        return Err(tensor);
    }
    tensor
        .clone()
        .try_into_primitive::<Autodiff<Flex>>()
        .map_err(|_| tensor)
}

/// GELU's backward with the vectorized derivative; the state is the input.
#[derive(Debug)]
struct GeluBackward;

impl Backward<Flex, 1> for GeluBackward {
    type State = FlexTensor;

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let input = contiguous(ops.state);
        unary::<Flex, _>(ops.parents, ops.node, grads, |grad| {
            map_in_place(grad, |g| {
                let x = values(&input);
                const CHUNK: usize = 1 << 15;
                g.par_chunks_mut(CHUNK)
                    .zip(x.par_chunks(CHUNK))
                    .for_each(|(g, x)| gelu_backward_in_place(g, x));
            })
        });
    }
}

/// Exact GELU on an autodiff Flex tensor: the vectorized kernel forward, and a backward node
/// with the vectorized derivative (Burn's runs `erf` and `exp` element by element).
pub fn gelu_autodiff<const D: usize>(x: Tensor<D>) -> Result<Tensor<D>, Tensor<D>> {
    let x = autodiff32(x)?;
    let input = x.primitive().clone();
    let output = map_in_place(input.clone(), gelu_in_parallel);
    let out = match GeluBackward
        .prepare::<NoCheckpointing>([x.node()])
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(prep) => prep.finish(input, output),
        OpsKind::UnTracked(prep) => prep.finish(output),
    };
    Ok(Tensor::from_primitive::<Autodiff<Flex>>(out))
}

/// What the attention backward needs from its forward pass.
#[derive(Debug, Clone)]
struct AttentionState {
    query: FlexTensor,
    key: FlexTensor,
    value: FlexTensor,
    /// Before dropout: `[batch, heads, seq_q, seq_k]`, or per band with a window.
    probs: FlexTensor,
    shape: AttentionShape,
    half_window: Option<usize>,
    scale: f32,
    dropout: Option<ProbsDropout>,
}

#[derive(Debug)]
struct AttentionBackward;

impl Backward<Flex, 3> for AttentionBackward {
    type State = AttentionState;

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let state = ops.state;
        let grad_out = contiguous(grads.consume::<Flex>(&ops.node));
        let dims = state.query.layout().shape().to_vec();
        let key_dims = state.key.layout().shape().to_vec();
        let mut dq = vec![0.0f32; state.query.layout().num_elements()];
        let mut dk = vec![0.0f32; state.key.layout().num_elements()];
        let mut dv = vec![0.0f32; state.value.layout().num_elements()];
        attention_backward(
            values(&state.query),
            values(&state.key),
            values(&state.value),
            values(&state.probs),
            values(&grad_out),
            state.scale,
            state.shape,
            state.half_window,
            state.dropout,
            &mut dq,
            &mut dk,
            &mut dv,
        );
        let [query, key, value] = ops.parents;
        if let Some(node) = query {
            grads.register::<Flex>(node.id, from_vec(dq, dims));
        }
        if let Some(node) = key {
            grads.register::<Flex>(node.id, from_vec(dk, key_dims.clone()));
        }
        if let Some(node) = value {
            grads.register::<Flex>(node.id, from_vec(dv, key_dims));
        }
    }
}

/// Attention on autodiff Flex tensors (training): kindling's kernel forward with dropout on
/// the probabilities (`dropout`: its probability, when active), and one backward node that
/// computes all three input gradients per head, heads read in place. The bias is a constant
/// of the node (no gradient): one tracked by autodiff hands the inputs back instead.
pub fn attention_autodiff(
    query: Tensor<3>,
    key: Tensor<3>,
    value: Tensor<3>,
    bias: Option<&AttentionBias>,
    heads: usize,
    dropout: Option<f64>,
) -> Result<Tensor<3>, AttentionInputs> {
    let Some(bias) = BiasParts::new(bias) else {
        return Err((query, key, value));
    };
    let device = query.device();
    let (q, k, v) = match (autodiff32(query), autodiff32(key), autodiff32(value)) {
        (Ok(q), Ok(k), Ok(v)) => (q, k, v),
        (q, k, v) => {
            let back = |r: Result<_, Tensor<3>>| {
                r.map_or_else(|t| t, Tensor::from_primitive::<Autodiff<Flex>>)
            };
            return Err((back(q), back(k), back(v)));
        }
    };
    let nodes = [q.node(), k.node(), v.node()];
    let query = contiguous(q.primitive().clone());
    let key = contiguous(k.primitive().clone());
    let value = contiguous(v.primitive().clone());
    let dims = query.layout().shape().to_vec();
    let [batch, seq_q, hidden] = [dims[0], dims[1], dims[2]];
    let seq_k = key.layout().shape()[1];
    let shape = AttentionShape {
        batch,
        seq_q,
        seq_k,
        heads,
        head_dim: hidden / heads,
    };
    let scale = 1.0 / (shape.head_dim as f32).sqrt();
    let dropout = dropout.map(|prob| dropout_draw(&device, prob));
    let saved = probs_len(shape, bias.half_window);
    let mut probs = vec![0.0f32; saved];
    let mut out = vec![0.0f32; batch * seq_q * hidden];
    attention_train(
        values(&query),
        values(&key),
        values(&value),
        bias.slices(),
        scale,
        shape,
        dropout,
        &mut probs,
        &mut out,
    );
    let out = from_vec(out, dims);
    let out = match AttentionBackward
        .prepare::<NoCheckpointing>(nodes)
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(prep) => {
            let state = AttentionState {
                query,
                key,
                value,
                probs: from_vec(probs, vec![saved]),
                shape,
                half_window: bias.half_window,
                scale,
                dropout,
            };
            prep.finish(state, out)
        }
        OpsKind::UnTracked(prep) => prep.finish(out),
    };
    Ok(Tensor::from_primitive::<Autodiff<Flex>>(out))
}

/// The same, read from autodiff parameters, with their nodes.
fn norm_parameters_autodiff(layer: &LayerNorm) -> Option<[AutodiffPrimitive; 2]> {
    let gamma = autodiff32(layer.gamma.val()).ok()?;
    let beta = autodiff32(layer.beta.as_ref()?.val()).ok()?;
    Some([gamma, beta])
}

type AutodiffPrimitive = <Autodiff<Flex> as burn::backend::BackendTypes>::FloatTensorPrimitive;

/// What layer norm's backward needs from its forward pass.
#[derive(Debug, Clone)]
struct LayerNormState {
    /// `(x - mean) / σ`, shaped as the input.
    normalized: FlexTensor,
    /// `1 / σ` per row.
    inverse_stds: FlexTensor,
    gamma: FlexTensor,
}

#[derive(Debug)]
struct LayerNormBackward;

impl Backward<Flex, 3> for LayerNormBackward {
    type State = LayerNormState;

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let state = ops.state;
        let gamma = values(&state.gamma);
        let width = gamma.len();
        let grad = contiguous(grads.consume::<Flex>(&ops.node));
        let mut partial = (vec![0.0f32; width], vec![0.0f32; width]);
        let grad_input = map_in_place(grad, |g| {
            let chunk = NORM_ROWS * width;
            partial = g
                .par_chunks_mut(chunk)
                .zip(values(&state.normalized).par_chunks(chunk))
                .zip(values(&state.inverse_stds).par_chunks(NORM_ROWS))
                .map(|((g, x), inverse)| {
                    let (mut dg, mut db) = (vec![0.0f32; width], vec![0.0f32; width]);
                    layer_norm_backward_rows(g, x, inverse, gamma, &mut dg, &mut db);
                    (dg, db)
                })
                // Summed in chunk order, the same at every run (see `sum_of_squares`).
                .collect::<Vec<_>>()
                .into_iter()
                .fold(
                    (vec![0.0f32; width], vec![0.0f32; width]),
                    |(mut ga, mut ba), (gb, bb)| {
                        ga.iter_mut().zip(&gb).for_each(|(a, b)| *a += b);
                        ba.iter_mut().zip(&bb).for_each(|(a, b)| *a += b);
                        (ga, ba)
                    },
                );
        });
        let [input, gamma_node, beta_node] = ops.parents;
        if let Some(node) = input {
            grads.register::<Flex>(node.id, grad_input);
        }
        let (grad_gamma, grad_beta) = partial;
        if let Some(node) = gamma_node {
            grads.register::<Flex>(node.id, from_vec(grad_gamma, vec![width]));
        }
        if let Some(node) = beta_node {
            grads.register::<Flex>(node.id, from_vec(grad_beta, vec![width]));
        }
    }
}

/// `layer(x)` on autodiff Flex tensors (training): the one-pass kernel forward and one
/// backward node for input, gamma and beta (Burn composes layer norm of eight operations,
/// each a pass with its own backward, in training).
pub fn layer_norm_autodiff<const D: usize>(
    x: Tensor<D>,
    layer: &LayerNorm,
    epsilon: f64,
) -> Result<Tensor<D>, Tensor<D>> {
    let Some([gamma, beta]) = norm_parameters_autodiff(layer) else {
        return Err(x);
    };
    let x = autodiff32(x)?;
    let width = gamma.primitive().layout().num_elements();
    let input = contiguous(x.primitive().clone());
    let dims = input.layout().shape().to_vec();
    if dims[D - 1] != width || beta.primitive().layout().num_elements() != width {
        return Err(Tensor::from_primitive::<Autodiff<Flex>>(x));
    }
    let gamma_values = contiguous(gamma.primitive().clone());
    let beta_values = contiguous(beta.primitive().clone());
    let rows = input.layout().num_elements() / width.max(1);
    let mut out = values(&input).to_vec();
    let mut normalized = vec![0.0f32; out.len()];
    let mut inverse_stds = vec![0.0f32; rows];
    let chunk = NORM_ROWS * width;
    out.par_chunks_mut(chunk)
        .zip(normalized.par_chunks_mut(chunk))
        .zip(inverse_stds.par_chunks_mut(NORM_ROWS))
        .for_each(|((v, x), inverse)| {
            layer_norm_rows(
                v,
                None,
                values(&gamma_values),
                values(&beta_values),
                epsilon as f32,
                Some((x, inverse)),
            )
        });
    let out = from_vec(out, dims.clone());
    let nodes = [x.node(), gamma.node(), beta.node()];
    let out = match LayerNormBackward
        .prepare::<NoCheckpointing>(nodes)
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(prep) => {
            let state = LayerNormState {
                normalized: from_vec(normalized, dims),
                inverse_stds: from_vec(inverse_stds, vec![rows]),
                gamma: gamma_values,
            };
            prep.finish(state, out)
        }
        OpsKind::UnTracked(prep) => prep.finish(out),
    };
    Ok(Tensor::from_primitive::<Autodiff<Flex>>(out))
}

/// What a linear layer's backward needs from its forward pass.
#[derive(Debug, Clone)]
struct LinearState {
    /// The input, contiguous, `[.., d_in]`.
    input: FlexTensor,
    /// The weight, contiguous, `[d_in, d_out]`.
    weight: FlexTensor,
}

/// The backward of `x · W (+ b)`: parents `x`, `W` and, when `N` is 3, `b`.
#[derive(Debug)]
struct LinearBackward;

impl<const N: usize> Backward<Flex, N> for LinearBackward {
    type State = LinearState;

    fn backward(self, ops: Ops<Self::State, N>, grads: &mut Gradients, _: &mut Checkpointer) {
        let LinearState { input, weight } = ops.state;
        let grad = contiguous(grads.consume::<Flex>(&ops.node));
        let shape = weight.layout().shape().to_vec();
        let [d_in, d_out] = [shape[0], shape[1]];
        let g = values(&grad);
        let rows = g.len().checked_div(d_out).unwrap_or(0);
        let parents = ops.parents;
        if let Some(node) = &parents[0] {
            // dx = g · Wᵀ.
            let dx = product(
                [rows, d_in, d_out],
                Operand::rows(g, d_out),
                Operand::transposed(values(&weight), d_out),
            );
            grads.register::<Flex>(node.id, from_vec(dx, input.layout().shape().to_vec()));
        }
        if let Some(node) = &parents[1] {
            // dW = xᵀ · g: one product over every row of the batch.
            let dw = product(
                [d_in, d_out, rows],
                Operand::transposed(values(&input), d_in),
                Operand::rows(g, d_out),
            );
            grads.register::<Flex>(node.id, from_vec(dw, shape));
        }
        if let Some(Some(node)) = parents.get(2) {
            const ROWS: usize = 256;
            let db = g
                .par_chunks(ROWS * d_out.max(1))
                .map(|chunk| {
                    let mut sums = vec![0.0f32; d_out];
                    for row in chunk.chunks_exact(d_out.max(1)) {
                        sums.iter_mut().zip(row).for_each(|(s, v)| *s += v);
                    }
                    sums
                })
                // Summed in chunk order, the same at every run (see `sum_of_squares`).
                .collect::<Vec<_>>()
                .into_iter()
                .fold(vec![0.0f32; d_out], |mut a, b| {
                    a.iter_mut().zip(&b).for_each(|(a, b)| *a += b);
                    a
                });
            grads.register::<Flex>(node.id, from_vec(db, vec![d_out]));
        }
    }
}

/// `layer.forward(x)` on autodiff Flex tensors (training): the forward is one product over
/// every row onto the bias, and one backward node gives `x`, the weight and the bias their
/// gradients, each one product (or one column sum) over all rows, with kindling's float32
/// product, so `KINDLING_ISA` lowers training's products too.
pub fn linear_autodiff<const D: usize>(
    x: Tensor<D>,
    layer: &Linear,
) -> Result<Tensor<D>, Tensor<D>> {
    let Ok(weight) = autodiff32(layer.weight.val()) else {
        return Err(x);
    };
    let bias = match layer.bias.as_ref().map(|b| autodiff32(b.val())) {
        None => None,
        Some(Ok(bias)) => Some(bias),
        Some(Err(_)) => return Err(x),
    };
    let x = autodiff32(x)?;
    let input = contiguous(x.primitive().clone());
    let weight_values = contiguous(weight.primitive().clone());
    let mut dims = input.layout().shape().to_vec();
    let shape = weight_values.layout().shape().to_vec();
    let (d_in, [w_in, d_out]) = (dims[D - 1], [shape[0], shape[1]]);
    let bias_values = bias.as_ref().map(|b| contiguous(b.primitive().clone()));
    if w_in != d_in
        || bias_values
            .as_ref()
            .is_some_and(|b| b.layout().num_elements() != d_out)
    {
        // Burn's own forward reports the mismatch.
        return Err(Tensor::from_primitive::<Autodiff<Flex>>(x));
    }
    let rows = dims[..D - 1].iter().product::<usize>();
    let out = linear_values(
        values(&input),
        rows,
        values(&weight_values),
        [d_in, d_out],
        bias_values.as_ref().map(values),
    );
    dims[D - 1] = d_out;
    let out = from_vec(out, dims);
    let state = LinearState {
        input,
        weight: weight_values,
    };
    let out = match bias {
        Some(bias) => linear_node([x.node(), weight.node(), bias.node()], state, out),
        None => linear_node([x.node(), weight.node()], state, out),
    };
    Ok(Tensor::from_primitive::<Autodiff<Flex>>(out))
}

/// `out` registered as the output of a [`LinearBackward`] node over `parents` (the bias is the
/// third parent when the layer has one), keeping `state` only when a gradient is wanted.
fn linear_node<const N: usize>(
    parents: [NodeGuard; N],
    state: LinearState,
    out: FlexTensor,
) -> AutodiffPrimitive {
    match LinearBackward
        .prepare::<NoCheckpointing>(parents)
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(prep) => prep.finish(state, out),
        OpsKind::UnTracked(prep) => prep.finish(out),
    }
}

/// What an embedding lookup's backward needs: the ids it read and the table's shape.
#[derive(Debug, Clone)]
struct EmbeddingState {
    /// The ids, one per output row, each below `rows`.
    ids: Vec<usize>,
    /// The id whose row gets no gradient (`padding_idx`).
    padding: Option<usize>,
    /// The table's `[rows, width]`.
    shape: [usize; 2],
}

/// The backward of a lookup: each output row's gradient added onto its id's row of a table of
/// zeros (the dense gradient `torch.nn.Embedding` gives too), with none for the padding id.
#[derive(Debug)]
struct EmbeddingBackward;

impl Backward<Flex, 1> for EmbeddingBackward {
    type State = EmbeddingState;

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let EmbeddingState {
            ids,
            padding,
            shape,
        } = ops.state;
        unary::<Flex, _>(ops.parents, ops.node, grads, |grad| {
            let grad = contiguous(grad);
            from_vec(
                embedding_gradient(values(&grad), &ids, padding, shape),
                shape.to_vec(),
            )
        });
    }
}

/// The table's gradient from the output's (`ids.len()` rows of `width`), in parallel over
/// bands of table rows; each band zeroes its rows, then adds its ids' rows in output order,
/// so a repeated id sums in the same order as a serial scatter (the result does not depend
/// on the thread count). Flex's path filled the whole table with zeros, then copied it, 94 MB
/// each on BERT-base, on the calling thread. The zeros are written, not left to the
/// allocator: gradient clipping reads the table, then writes it, and a page first read from
/// the shared zero page costs a copy-on-write fault and a TLB shootdown when written.
#[allow(unsafe_code)]
fn embedding_gradient(
    grad: &[f32],
    ids: &[usize],
    padding: Option<usize>,
    [rows, width]: [usize; 2],
) -> Vec<f32> {
    // Table rows per task.
    const BAND: usize = 1024;
    if width == 0 {
        return Vec::new();
    }
    // SAFETY: each chunk is whole rows of the table, and the task writes every value of it
    // (the zeros) before it reads or adds to any.
    unsafe {
        crate::cpu::written_in_parallel(rows * width, BAND * width, |start, out| {
            out.fill(std::mem::MaybeUninit::new(0.0));
            // SAFETY: every value of `out` was just initialized.
            let out = std::slice::from_raw_parts_mut(out.as_mut_ptr().cast::<f32>(), out.len());
            let first = start / width;
            let end = first + out.len() / width;
            for (position, &id) in ids.iter().enumerate() {
                if (first..end).contains(&id) && Some(id) != padding {
                    let row = &mut out[(id - first) * width..][..width];
                    let source = &grad[position * width..][..width];
                    row.iter_mut().zip(source).for_each(|(r, g)| *r += g);
                }
            }
        })
    }
}

/// `table.forward(ids)` on autodiff Flex tensors (training), with no gradient reaching the
/// `padding` row, as `torch.nn.Embedding(padding_idx=...)`: the rows gathered on the thread
/// pool, and one backward node that scatters the output's gradient onto the table. `Err`
/// hands `ids` back when the table is not an autodiff Flex float32 tensor or an id is outside
/// it (Burn's own lookup then reports it).
pub fn embedding_autodiff(
    ids: Tensor<2, Int>,
    table: &Embedding,
    padding: Option<usize>,
) -> Result<Tensor<3>, Tensor<2, Int>> {
    let Ok(weight) = autodiff32(table.weight.val()) else {
        return Err(ids);
    };
    let values_table = contiguous(weight.primitive().clone());
    let shape = values_table.layout().shape().to_vec();
    let [rows, width] = [shape[0], shape[1]];
    let [batch, seq] = ids.dims();
    let Ok(flat) = ids.to_data().convert::<i64>().try_into_vec::<i64>() else {
        return Err(ids);
    };
    let Some(flat) = flat
        .iter()
        .map(|&id| usize::try_from(id).ok().filter(|&id| id < rows))
        .collect::<Option<Vec<usize>>>()
    else {
        return Err(ids);
    };
    let source = values(&values_table);
    // Output rows per task.
    const ROWS: usize = 64;
    // A row's length as a chunk length (a table of width 0 has no values to write).
    let row_len = width.max(1);
    // SAFETY: each chunk is whole rows (`ROWS` of them, fewer in the last), each written whole
    // from a row of the table (every id is below `rows`, checked above).
    let out = unsafe {
        crate::cpu::written_in_parallel(flat.len() * width, ROWS * row_len, |first, out| {
            let first_row = first / row_len;
            for (row, out) in out.chunks_exact_mut(row_len).enumerate() {
                let id = flat[first_row + row];
                out.write_copy_of_slice(&source[id * width..][..width]);
            }
        })
    };
    let out = from_vec(out, vec![batch, seq, width]);
    let state = EmbeddingState {
        ids: flat,
        padding,
        shape: [rows, width],
    };
    let out = match EmbeddingBackward
        .prepare::<NoCheckpointing>([weight.node()])
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(prep) => prep.finish(state, out),
        OpsKind::UnTracked(prep) => prep.finish(out),
    };
    Ok(Tensor::from_primitive::<Autodiff<Flex>>(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn qkv(device: &Device) -> AttentionInputs {
        let x = || Tensor::<3>::ones([1, 3, 4], device).require_grad();
        (x(), x(), x())
    }

    #[test]
    fn a_linear_layer_trains_through_the_kernel_with_or_without_a_bias() {
        let device = Device::flex().autodiff();
        for bias in [true, false] {
            let layer = burn::nn::LinearConfig::new(4, 3)
                .with_bias(bias)
                .init(&device);
            let x = Tensor::<3>::ones([2, 5, 4], &device).require_grad();
            let out = linear_autodiff(x, &layer).expect("the kernel takes autodiff Flex tensors");
            assert_eq!(out.dims(), [2, 5, 3]);
        }
        let inference = burn::nn::LinearConfig::new(4, 3).init(&Device::flex());
        let x = Tensor::<2>::ones([2, 4], &Device::flex());
        assert!(linear_autodiff(x, &inference).is_err());
    }

    #[test]
    fn the_kernel_takes_a_bias_built_on_the_autodiff_device_unless_it_is_tracked() {
        let device = Device::flex().autodiff();
        let mask = Tensor::<2, Int>::from_data([[1, 1, 0]], &device);
        let padding = AttentionBias::from_attention_mask(mask).with_sliding_window(2);
        let (q, k, v) = qkv(&device);
        assert!(attention_autodiff(q, k, v, Some(&padding), 2, None).is_ok());
        let additive = Tensor::<4>::zeros([1, 1, 3, 3], &device);
        let constant = padding.clone().with_additive(additive.clone());
        let (q, k, v) = qkv(&device);
        assert!(attention_autodiff(q, k, v, Some(&constant), 2, Some(0.1)).is_ok());
        let tracked = padding.with_additive(additive.require_grad());
        let (q, k, v) = qkv(&device);
        assert!(attention_autodiff(q, k, v, Some(&tracked), 2, None).is_err());
    }
}
