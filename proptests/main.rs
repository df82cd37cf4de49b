//! Property tests, one module per area of the crate.

mod baselines;
mod data;
mod loss;
mod metrics;
mod model;
mod norm_ops;
mod ops;
