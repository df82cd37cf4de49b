//! Property tests.
mod data;
