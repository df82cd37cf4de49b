//! Property tests.

mod ops;
