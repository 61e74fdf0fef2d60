//! Writing named outputs to a safetensors file (what `cargo xtask forward --output` writes).

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::path::Path;

use burn::tensor::{DType, TensorData};
use safetensors::tensor::{Dtype, View};

use crate::error::KindlingError;

struct DataView<'a>(&'a TensorData, Dtype, Vec<usize>);

impl View for DataView<'_> {
    fn dtype(&self) -> Dtype {
        self.1
    }
    fn shape(&self) -> &[usize] {
        &self.2
    }
    fn data(&self) -> Cow<'_, [u8]> {
        Cow::Borrowed(self.0.as_bytes())
    }
    fn data_len(&self) -> usize {
        self.0.as_bytes().len()
    }
}

/// Writes tensors (f32, f64, i64, i32 data) to `path` as safetensors, atomically.
pub fn save_outputs(
    path: &Path,
    tensors: &BTreeMap<String, TensorData>,
) -> Result<(), KindlingError> {
    let file_error = |message: String| KindlingError::File {
        path: path.to_path_buf(),
        message,
    };
    let mut views = Vec::new();
    for (name, data) in tensors {
        let dtype = match data.dtype() {
            DType::F32 => Dtype::F32,
            DType::F64 => Dtype::F64,
            DType::I64 => Dtype::I64,
            DType::I32 => Dtype::I32,
            other => {
                return Err(file_error(format!(
                    "output `{name}` has dtype {other:?}; convert it to f32 or i64 first"
                )));
            }
        };
        views.push((name.as_str(), DataView(data, dtype, data.shape().to_vec())));
    }
    let bytes = safetensors::serialize(views, None).map_err(|e| file_error(e.to_string()))?;
    kindling_import::write_atomically(path, &bytes).map_err(KindlingError::from)
}
