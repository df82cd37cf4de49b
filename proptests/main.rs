//! Property tests.

mod model;
