//! `kindling_kernels::embedding` in training: kindling's autodiff operation on Flex (with the
//! `flex` feature) against Burn's own lookup on NdArray with the padding positions detached,
//! the output and the table's gradient. The table spans several of the backward's bands (the
//! last one partial), ids repeat, and the padding id appears.

use burn::module::Param;
use burn::nn::Embedding;
use burn::prelude::*;
use kindling_kernels::embedding;

mod common;

use common::{max_difference, ndarray, read, tensor, values};

const ROWS: usize = 2_500;
const WIDTH: usize = 24;
const BATCH: usize = 4;
const SEQ: usize = 50;
const PADDING: usize = 1;

/// Ids with repeats, the padding id, and the table's first and last rows.
fn ids() -> Vec<i64> {
    (0..BATCH * SEQ)
        .map(|i| match i % 7 {
            0 => PADDING as i64,
            1 => 0,
            2 => (ROWS - 1) as i64,
            3 => 1_500,
            _ => ((i * 997) % ROWS) as i64,
        })
        .collect()
}

/// `Σ w ⊙ embedding(ids)` on `device`: the output and, when the table is tracked, its
/// gradient.
fn run(device: &Device, padding: Option<usize>, tracked: bool) -> Vec<Vec<f32>> {
    let weight = tensor(values(ROWS * WIDTH, 1), [ROWS, WIDTH], device);
    let table = Embedding {
        weight: Param::from_tensor(weight).set_require_grad(tracked),
    };
    let ids = Tensor::<2, Int>::from_data(TensorData::new(ids(), [BATCH, SEQ]), device);
    let out = embedding(&table, ids, padding);
    let mut found = vec![read(out.clone())];
    if tracked {
        let w = tensor(values(BATCH * SEQ * WIDTH, 2), [BATCH, SEQ, WIDTH], device);
        let grads = (out * w).sum().backward();
        let grad = table.weight.val().grad(&grads);
        found.push(read(grad.expect("the table has a gradient")));
    }
    found
}

#[test]
fn the_lookup_trains_as_burns_with_no_gradient_for_the_padding_row() {
    let flex = Device::flex().autodiff();
    let reference = ndarray().autodiff();
    for padding in [Some(PADDING), None] {
        let got = run(&flex, padding, true);
        let expected = run(&reference, padding, true);
        let what = ["output", "table gradient"];
        for ((got, expected), what) in got.iter().zip(&expected).zip(what) {
            let difference = max_difference(got, expected);
            assert!(
                difference <= 1e-6,
                "{what}, padding {padding:?}: {difference}"
            );
        }
        let padding_row = &got[1][PADDING * WIDTH..][..WIDTH];
        match padding {
            Some(_) => assert!(padding_row.iter().all(|&g| g == 0.0), "the padding row"),
            None => assert!(padding_row.iter().any(|&g| g != 0.0), "row 1 is looked up"),
        }
        // A row no id reads gets nothing.
        let untouched = 2;
        assert!(!ids().contains(&(untouched as i64)));
        assert!(
            got[1][untouched * WIDTH..][..WIDTH]
                .iter()
                .all(|&g| g == 0.0)
        );
    }
    let frozen = run(&flex, Some(PADDING), false);
    assert_eq!(frozen[0], run(&reference, Some(PADDING), false)[0]);
}
