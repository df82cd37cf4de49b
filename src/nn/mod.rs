//! nn (in progress).
