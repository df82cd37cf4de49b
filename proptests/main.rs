//! Property tests.

mod loss;
