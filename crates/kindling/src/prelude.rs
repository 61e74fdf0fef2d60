//! Everything a custom head's author needs, in one line: `use kindling::prelude::*;`.
//!
//! [`kindling_heads::prelude`] (Burn and its prelude, layers, optimizers, the body's input and
//! output, the [`Head`] contract and the mount) plus loading and saving checkpoints and
//! choosing a device.
//!
//! ```no_run
//! use kindling::prelude::*;
//!
//! let device = parse_device("flex")?;
//! let checkpoint = Checkpoint::open("path/to/checkpoint")?;
//! let tensors = checkpoint.read_tensors()?;
//! let head = TokenClassificationHead::new(checkpoint.config.hidden_size(), 7, 0.1, 0.02, &device);
//! let (model, report) = load_model_with_head(&checkpoint, &tensors, head, false, &device)?;
//! print!("{report}");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub use kindling_heads::prelude::*;
pub use kindling_import::{
    Checkpoint, LoadReport, ModelLoadOptions, load_body, load_model, load_model_with_head,
    save_model,
};

pub use crate::KindlingError;
pub use crate::device::parse_device;
