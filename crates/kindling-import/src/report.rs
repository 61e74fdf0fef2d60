//! What a load did, in Hugging Face tensor names, like `transformers`' loading warnings.

use std::fmt;

/// The outcome of loading a checkpoint into a module.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoadReport {
    /// Tensors taken from the file (model names).
    pub loaded: Vec<String>,
    /// Model tensors the file lacked, left at their fresh initialization ("newly initialized").
    pub newly_initialized: Vec<String>,
    /// File tensors no model parameter took ("not used").
    pub unused: Vec<String>,
    /// The prefix stripped from the file's names (`bert.`, `roberta.`), if any.
    pub prefix: Option<String>,
    /// Float dtypes in the file that were cast to the device's float type.
    pub cast_from: Vec<String>,
}

impl LoadReport {
    /// True when every model tensor came from the file and every file tensor was used.
    pub fn is_exact(&self) -> bool {
        self.newly_initialized.is_empty() && self.unused.is_empty()
    }
}

impl fmt::Display for LoadReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "loaded {} tensors", self.loaded.len())?;
        if let Some(prefix) = &self.prefix {
            write!(f, " (prefix `{prefix}` stripped)")?;
        }
        if !self.cast_from.is_empty() {
            write!(f, ", cast from {}", self.cast_from.join(", "))?;
        }
        writeln!(f)?;
        if !self.unused.is_empty() {
            writeln!(
                f,
                "Some weights of the checkpoint were not used: [{}]",
                self.unused.join(", ")
            )?;
        }
        if !self.newly_initialized.is_empty() {
            writeln!(
                f,
                "Some weights of the model were not initialized from the checkpoint and are newly initialized: [{}]",
                self.newly_initialized.join(", ")
            )?;
            writeln!(
                f,
                "You should probably train this model on a down-stream task to be able to use it for predictions and inference."
            )?;
        }
        Ok(())
    }
}
