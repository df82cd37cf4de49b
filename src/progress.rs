//! Progress of the long steps the library runs (checking a dataset, generating the synthetic
//! one, evaluating, inference on a folder), reported to whoever drives them: the command line
//! draws bars from it, tests and library users can pass [`Silent`].

/// Receives the progress of one step at a time; `advance` may be called from several threads.
pub trait Progress: Sync {
    /// A step of `total` items begins.
    fn start(&self, what: &str, total: usize);
    /// One more item of the step is done.
    fn advance(&self);
    /// The step is over.
    fn finish(&self);
}

/// Reports nothing.
pub struct Silent;

impl Progress for Silent {
    fn start(&self, _what: &str, _total: usize) {}
    fn advance(&self) {}
    fn finish(&self) {}
}
