//! Training machinery of the paper's recipe: the AdaGrad optimiser (not in dfdx) and the
//! learning-rate schedules (constant, as the released code trains, and cosine annealing, as
//! the paper states).

pub mod optim;
pub mod schedule;
