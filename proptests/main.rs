//! Property tests.

mod norm_ops;
