//! Progress bars with an ETA for the library's long steps; when stderr is not a terminal, one
//! plain line when a step starts and one when it ends.

use indicatif::{ProgressBar, ProgressStyle};
use rrcanet::progress::Progress;
use std::sync::Mutex;
use std::time::Instant;

/// The step under way.
struct Step {
    bar: ProgressBar,
    what: String,
    total: usize,
    started: Instant,
}

/// Draws one bar per step on stderr.
#[derive(Default)]
pub struct Bars {
    step: Mutex<Option<Step>>,
}

impl Bars {
    fn with_step(&self, act: impl FnOnce(&mut Option<Step>)) {
        // A panic elsewhere must not silence the progress: use the value even if poisoned.
        let mut step = self
            .step
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        act(&mut step);
    }
}

impl Progress for Bars {
    fn start(&self, what: &str, total: usize) {
        let bar = ProgressBar::new(total as u64);
        bar.set_style(
            ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} {elapsed} (eta {eta})")
                .expect("valid template")
                .progress_chars("=> "),
        );
        bar.set_message(what.to_string());
        if bar.is_hidden() {
            eprintln!("{what}: {total} ...");
        }
        self.with_step(|step| {
            *step = Some(Step {
                bar,
                what: what.to_string(),
                total,
                started: Instant::now(),
            })
        });
    }

    fn advance(&self) {
        self.with_step(|step| {
            if let Some(step) = step {
                step.bar.inc(1);
            }
        });
    }

    fn finish(&self) {
        self.with_step(|step| {
            if let Some(step) = step.take() {
                step.bar.finish_and_clear();
                eprintln!(
                    "{}: {} in {:.1} s",
                    step.what,
                    step.total,
                    step.started.elapsed().as_secs_f64()
                );
            }
        });
    }
}
