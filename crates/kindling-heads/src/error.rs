//! Errors of the heads crate.

/// Why a head cannot be built, mounted, or given a loss.
#[derive(Debug, thiserror::Error)]
pub enum HeadError {
    /// The head expects a different hidden size than the body produces.
    #[error("cannot mount the head: it expects hidden size {head}, but the body produces {body}")]
    HiddenSize {
        /// The head's input width.
        head: usize,
        /// The body's hidden size.
        body: usize,
    },
    /// The head reads a pooler the body does not have.
    #[error("the head reads the pooler output, but the body has no pooler")]
    NoPooler,
    /// Labels whose shape does not fit the outputs.
    #[error("labels of shape {labels:?} do not fit outputs of shape {outputs:?}: {message}")]
    LabelShape {
        /// The labels' shape.
        labels: Vec<usize>,
        /// The outputs' shape.
        outputs: Vec<usize>,
        /// What was expected.
        message: String,
    },
    /// The labels' kind does not fit the problem type.
    #[error("{0}")]
    LabelKind(String),
    /// A label list disagrees with the checkpoint's head.
    #[error(
        "{given} labels were given, but the checkpoint's head has {checkpoint} (`{tensor}` is {shape:?}); pass the checkpoint's labels or load it as a body"
    )]
    LabelCount {
        /// Labels given.
        given: usize,
        /// Labels in the checkpoint.
        checkpoint: usize,
        /// The head tensor that says so.
        tensor: String,
        /// Its shape.
        shape: Vec<usize>,
    },
    /// An `architectures` entry kindling has no head for.
    #[error("unknown architecture `{0}` (supported: {1})")]
    UnknownArchitecture(String, String),
    /// A head option that makes no sense (zero labels, ...).
    #[error("{0}")]
    Invalid(String),
}
