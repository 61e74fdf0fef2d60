//! The learning-rate schedule of `transformers`' `get_linear_schedule_with_warmup`.

/// Linear warm-up from 0 to the peak, then linear decay to 0 at the last step.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LinearSchedule {
    /// Peak learning rate.
    pub peak: f64,
    /// Steps of warm-up.
    pub warmup_steps: usize,
    /// Total optimizer steps.
    pub total_steps: usize,
}

impl LinearSchedule {
    /// The schedule for `total_steps` with `warmup_steps` of warm-up.
    pub fn new(peak: f64, warmup_steps: usize, total_steps: usize) -> Self {
        Self {
            peak,
            warmup_steps,
            total_steps,
        }
    }

    /// The learning rate for the optimizer step that follows `completed` steps (as the
    /// PyTorch scheduler gives it after `completed` calls to `scheduler.step()`).
    pub fn lr(&self, completed: usize) -> f64 {
        let step = completed as f64;
        if completed < self.warmup_steps {
            return self.peak * step / (self.warmup_steps.max(1) as f64);
        }
        let remaining = self.total_steps.saturating_sub(completed) as f64;
        let span = self.total_steps.saturating_sub(self.warmup_steps).max(1) as f64;
        self.peak * (remaining / span).max(0.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warms_up_then_decays_to_zero() {
        let s = LinearSchedule::new(1.0, 2, 6);
        let lrs: Vec<f64> = (0..=6).map(|i| s.lr(i)).collect();
        assert_eq!(lrs, [0.0, 0.5, 1.0, 0.75, 0.5, 0.25, 0.0]);
    }

    #[test]
    fn no_warmup_starts_at_the_peak() {
        let s = LinearSchedule::new(5e-5, 0, 10);
        assert_eq!(s.lr(0), 5e-5);
        assert!((s.lr(5) - 2.5e-5).abs() < 1e-18);
    }
}
