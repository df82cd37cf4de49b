//! Training with the paper's recipe: the AdaGrad optimiser (not in dfdx), the learning-rate
//! schedules (constant, as the released code trains, and cosine annealing, as the paper
//! states), and the per-epoch history a run records.

pub mod history;
pub mod optim;
pub mod schedule;
