//! `rrcanet`: RRCA-Net (Liu et al., "Recurrent Reusable-Convolution Attention Network for
//! Infrared Small Target Detection", IEEE JSTARS 2025) and the tooling around it, on dfdx.
//!
//! Layout follows the architecture (notes/architecture.md): [`ops`] holds the differentiable
//! ops we own (dfdx 0.13 has no stable conv/pool), [`nn`] the building blocks, [`model`]
//! RRCA-Net, its ablations and baselines, and [`model::Detector`], the one interface the
//! workflow uses; [`loss`] the DpT-k family, [`optim`] the optimisers, [`train`] and
//! [`inference`] the workflow, [`metrics`] the IRSTD metrics on plain arrays, and [`data`]
//! dataset loading, preprocessing and the synthetic generator.

pub mod atomic_file;
pub mod baselines;
pub mod benchmark;
pub mod compare;
pub mod csv;
pub mod data;
pub mod inference;
pub mod loss;
pub mod metrics;
pub mod model;
pub mod names;
pub mod nn;
pub mod ops;
pub mod optim;
pub mod plots;
pub mod progress;
pub mod tensor_file;
pub mod train;
