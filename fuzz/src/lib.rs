//! The fuzz targets' bodies (see `targets.rs`, which the regression test in `tests/` shares).

mod targets;

pub use targets::*;
