//! loss (in progress).
