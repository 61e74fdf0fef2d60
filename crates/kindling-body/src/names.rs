//! The one table between Hugging Face tensor names and kindling module paths.
//!
//! Modules are named after the Hugging Face state dict, so only two things differ:
//! `self` is a Rust keyword (the field is `self_attention`), and Rust fields are snake case
//! (`LayerNorm` is `layer_norm`). Burn's own parameter names (`gamma`/`beta` for layer norms,
//! `[in, out]` linear weights) are handled by burn-store's PyTorch adapters, not here.
//!
//! | Hugging Face                       | kindling                                   |
//! |------------------------------------|--------------------------------------------|
//! | `….attention.self.query.weight`    | `….attention.self_attention.query.weight`  |
//! | `….LayerNorm.weight`               | `….layer_norm.weight`                      |
//! | `….LayerNorm.gamma` / `.beta` (TF) | `….layer_norm.weight` / `.bias` (on load)  |

/// Hugging Face name (prefix already removed) to kindling module path.
pub fn hf_to_kindling(name: &str) -> String {
    let original: Vec<&str> = name.split('.').collect();
    let n = original.len();
    let after = |i: usize, parent: &str| i > 0 && original[i - 1] == parent;
    let parts: Vec<&str> = original
        .iter()
        .enumerate()
        .map(|(i, part)| match *part {
            "self" if after(i, "attention") => "self_attention",
            "LayerNorm" => "layer_norm",
            "gamma" if i == n - 1 && after(i, "LayerNorm") => "weight",
            "beta" if i == n - 1 && after(i, "LayerNorm") => "bias",
            other => other,
        })
        .collect();
    parts.join(".")
}

/// kindling module path (in PyTorch parameter naming) to the Hugging Face name, without prefix.
pub fn kindling_to_hf(path: &str) -> String {
    let mut parts: Vec<&str> = path.split('.').collect();
    for part in parts.iter_mut() {
        *part = match *part {
            "self_attention" => "self",
            "layer_norm" => "LayerNorm",
            other => other,
        };
    }
    parts.join(".")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attention_and_layer_norm_names_map_both_ways() {
        let cases = [
            (
                "encoder.layer.0.attention.self.query.weight",
                "encoder.layer.0.attention.self_attention.query.weight",
            ),
            (
                "encoder.layer.11.attention.output.LayerNorm.bias",
                "encoder.layer.11.attention.output.layer_norm.bias",
            ),
            (
                "embeddings.LayerNorm.weight",
                "embeddings.layer_norm.weight",
            ),
            ("pooler.dense.weight", "pooler.dense.weight"),
            (
                "embeddings.word_embeddings.weight",
                "embeddings.word_embeddings.weight",
            ),
        ];
        for (hf, ours) in cases {
            assert_eq!(hf_to_kindling(hf), ours);
            assert_eq!(kindling_to_hf(ours), hf);
        }
    }

    #[test]
    fn legacy_gamma_beta_become_weight_bias() {
        assert_eq!(
            hf_to_kindling("embeddings.LayerNorm.gamma"),
            "embeddings.layer_norm.weight"
        );
        assert_eq!(
            hf_to_kindling("encoder.layer.1.output.LayerNorm.beta"),
            "encoder.layer.1.output.layer_norm.bias"
        );
        // Only layer-norm parameters are renamed.
        assert_eq!(hf_to_kindling("something.gamma"), "something.gamma");
    }
}
