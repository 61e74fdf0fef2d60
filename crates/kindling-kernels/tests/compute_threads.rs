//! `kindling_kernels::on_compute_threads`: the flex device's work runs on a worker of the
//! thread pool (nested calls stay on it), any other device's on the calling thread, and the
//! result and a panic come back to the caller.

use burn::prelude::*;
use kindling_kernels::on_compute_threads;

mod common;

#[test]
fn flex_work_runs_on_a_pool_worker_and_other_devices_on_the_caller() {
    let flex = Device::flex();
    // A test's own thread is not one of the pool's.
    assert_eq!(rayon::current_thread_index(), None);
    let (outer, inner) = on_compute_threads(&flex, || {
        let outer = rayon::current_thread_index();
        (
            outer,
            on_compute_threads(&flex, rayon::current_thread_index),
        )
    });
    assert!(outer.is_some(), "flex work ran off the pool");
    assert_eq!(inner, outer, "a nested call left its worker");
    assert_eq!(
        on_compute_threads(&common::ndarray(), rayon::current_thread_index),
        None
    );
    // The work's result, here a tensor computed on the worker, comes back.
    let sum = on_compute_threads(&flex, || {
        Tensor::<1>::from_floats([1.0, 2.0, 3.0], &flex)
            .sum()
            .into_scalar::<f32>()
    });
    assert_eq!(sum, 6.0);
}

#[test]
fn a_panic_in_the_work_reaches_the_caller() {
    let caught = std::panic::catch_unwind(|| {
        on_compute_threads(&Device::flex(), || -> () { panic!("the work failed") })
    });
    let message = caught.expect_err("the panic was lost");
    assert_eq!(message.downcast_ref::<&str>(), Some(&"the work failed"));
}
