//! Property tests.

mod metrics;
