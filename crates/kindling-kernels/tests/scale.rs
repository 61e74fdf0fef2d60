//! `kindling_kernels::scale` (gradient clipping's scaling) against Burn's scalar product: the
//! same float32 values bit for bit, on Flex (kindling's pass on the thread pool, in place for a
//! tensor nothing else holds and into a copy for a shared one, large enough to run in several
//! chunks) and on NdArray (Burn's own), and a shared input is left as it was.

use burn::prelude::*;
use kindling_kernels::scale;

mod common;

use common::{ndarray, read, tensor, values};

/// Rows of 3: more than two chunks of the thread pool's pass, and not a whole number of them.
const ROWS: usize = 21_900;

fn bits(values: &[f32]) -> Vec<u32> {
    values.iter().map(|v| v.to_bits()).collect()
}

#[test]
fn scale_gives_burns_scalar_product_bit_for_bit() {
    // A factor that float32 cannot hold exactly: both round it the same way.
    let factor = 0.123_456_789_012_345_f64;
    let input = values(ROWS * 3, 7);
    for device in [Device::flex(), ndarray()] {
        let expected = read(tensor(input.clone(), [ROWS, 3], &device) * factor);
        let unique = read(scale(tensor(input.clone(), [ROWS, 3], &device), factor));
        assert_eq!(bits(&unique), bits(&expected), "{device:?}, unique input");
        let shared = tensor(input.clone(), [ROWS, 3], &device);
        let scaled = read(scale(shared.clone(), factor));
        assert_eq!(bits(&scaled), bits(&expected), "{device:?}, shared input");
        assert_eq!(read(shared), input, "{device:?}: the shared input changed");
    }
}
