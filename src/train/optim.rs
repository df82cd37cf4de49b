//! AdaGrad, now in [`crate::optim`] with the other optimisers.

pub use crate::optim::{Adagrad, AdagradConfig};
