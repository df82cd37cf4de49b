//! Training: the loop, its run directory and what it records.

pub mod history;
