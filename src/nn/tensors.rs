//! Every tensor of a module, whatever its shape, through one walk: what optimisers, checkpoints
//! and parameter counts need, written once over [`ModelTensor`] instead of once per model type.
//!
//! dfdx visits a module's tensors with a `TensorVisitor`, and each visitor type is compiled once
//! per module type it walks; with 19 model types and a visitor per optimiser, per checkpoint
//! direction and per count, those walks were most of the release build. Here a module has two
//! walks, [`for_each_tensor`] and [`for_each_tensor_mut`], that hand every tensor to a closure
//! as a `dyn ModelTensor`; everything else is ordinary code compiled once.

use crate::ops::Float;
use dfdx::nn::tensor_collection::{
    RecursiveWalker, TensorCollection, TensorOptions, TensorVisitor, ViewTensorMut, ViewTensorName,
    ViewTensorRef,
};
use dfdx::prelude::{Device, Gradients, HasShape, Shape, Tensor};
use dfdx::tensor_ops::ReshapeTo;
use std::ops::ControlFlow;

/// A module's tensor as the shape-independent code sees it.
pub trait ModelTensor<E: Float, D: Device<E>> {
    /// The dimensions, outermost first.
    fn dimensions(&self) -> Vec<usize>;
    /// The number of elements.
    fn element_count(&self) -> usize;
    /// The elements in row-major order, on the host.
    fn values(&self) -> Vec<E>;
    /// Overwrites the elements (row-major, all of them), keeping the tensor's identity.
    fn set_values(&mut self, values: &[E]);
    /// The tensor as a flat (len,) tensor on its device (shares storage).
    fn flat(&self) -> Result<Tensor<(usize,), E, D>, D::Err>;
    /// The device it lives on.
    fn device(&self) -> D;
    /// Its gradient in `gradients`, flat.
    fn gradient(&self, gradients: &Gradients<E, D>) -> Result<Tensor<(usize,), E, D>, D::Err>;
    /// `self += scale * step`, in place (the tensor keeps its identity, so its gradient slot).
    fn add_scaled(&mut self, step: &Tensor<(usize,), E, D>, scale: f64) -> Result<(), D::Err>;
}

impl<S: Shape, E: Float, D: Device<E>> ModelTensor<E, D> for Tensor<S, E, D> {
    fn dimensions(&self) -> Vec<usize> {
        self.shape().concrete().into()
    }

    fn element_count(&self) -> usize {
        self.shape().num_elements()
    }

    fn values(&self) -> Vec<E> {
        crate::ops::host_values(self)
    }

    fn set_values(&mut self, values: &[E]) {
        self.copy_from(values);
    }

    fn flat(&self) -> Result<Tensor<(usize,), E, D>, D::Err> {
        self.clone().try_reshape_like(&(self.element_count(),))
    }

    fn device(&self) -> D {
        Tensor::device(self).clone()
    }

    fn gradient(&self, gradients: &Gradients<E, D>) -> Result<Tensor<(usize,), E, D>, D::Err> {
        gradients
            .get(self)
            .try_reshape_like(&(self.element_count(),))
    }

    fn add_scaled(&mut self, step: &Tensor<(usize,), E, D>, scale: f64) -> Result<(), D::Err> {
        let step = step.clone().try_reshape_like(self.shape())?;
        self.try_axpy(1.0, &step, scale)
    }
}

/// What a walk tells about each tensor besides the tensor itself.
#[derive(Clone, Copy, Debug)]
pub struct TensorInfo<'a> {
    /// Its path in the module, e.g. `stem.convs.conv1.weight`.
    pub name: &'a str,
    /// Whether optimisers update it (BatchNorm running statistics are not trainable).
    pub trainable: bool,
}

/// What [`walk`] hands every tensor to.
type Visit<'f, E, D> = dyn FnMut(TensorInfo<'_>, &dyn ModelTensor<E, D>) -> ControlFlow<()> + 'f;
/// What [`walk_mut`] hands every tensor to.
type VisitMut<'f, E, D> =
    dyn FnMut(TensorInfo<'_>, &mut dyn ModelTensor<E, D>) -> ControlFlow<()> + 'f;

/// Visits a module's tensors by reference, handing each to a closure.
struct Reading<'f, E: Float, D: Device<E>> {
    visit: &'f mut Visit<'f, E, D>,
}

impl<E: Float, D: Device<E>> TensorVisitor<E, D> for Reading<'_, E, D> {
    type Viewer = (ViewTensorRef, ViewTensorName);
    type Err = ();
    type E2 = E;
    type D2 = D;

    fn visit<S: Shape>(
        &mut self,
        options: TensorOptions<S, E, D>,
        (tensor, name): (&Tensor<S, E, D>, String),
    ) -> Result<Option<Tensor<S, E, D>>, ()> {
        let info = TensorInfo {
            name: &name,
            trainable: options.do_gradient_update,
        };
        match (self.visit)(info, tensor) {
            ControlFlow::Continue(()) => Ok(None),
            ControlFlow::Break(()) => Err(()),
        }
    }
}

/// Visits a module's tensors mutably, handing each to a closure.
struct Writing<'f, E: Float, D: Device<E>> {
    visit: &'f mut VisitMut<'f, E, D>,
}

impl<E: Float, D: Device<E>> TensorVisitor<E, D> for Writing<'_, E, D> {
    type Viewer = (ViewTensorMut, ViewTensorName);
    type Err = ();
    type E2 = E;
    type D2 = D;

    fn visit<S: Shape>(
        &mut self,
        options: TensorOptions<S, E, D>,
        (tensor, name): (&mut Tensor<S, E, D>, String),
    ) -> Result<Option<Tensor<S, E, D>>, ()> {
        let info = TensorInfo {
            name: &name,
            trainable: options.do_gradient_update,
        };
        match (self.visit)(info, tensor) {
            ControlFlow::Continue(()) => Ok(None),
            ControlFlow::Break(()) => Err(()),
        }
    }
}

/// Hands every tensor of `module` to `visit`, in the module's order, until it breaks. Compiled
/// once per module type.
fn walk<M: TensorCollection<E, D>, E: Float, D: Device<E>>(
    module: &M,
    visit: &mut Visit<'_, E, D>,
) {
    let _stopped = M::iter_tensors(&mut RecursiveWalker {
        m: (module, String::new()),
        f: &mut Reading { visit },
    });
}

/// [`walk`] with mutable tensors.
fn walk_mut<M: TensorCollection<E, D>, E: Float, D: Device<E>>(
    module: &mut M,
    visit: &mut VisitMut<'_, E, D>,
) {
    let _stopped = M::iter_tensors(&mut RecursiveWalker {
        m: (module, String::new()),
        f: &mut Writing { visit },
    });
}

/// Hands every tensor of `module` to `visit`, in the module's order; stops at the first error.
pub fn for_each_tensor<M: TensorCollection<E, D>, E: Float, D: Device<E>, R>(
    module: &M,
    mut visit: impl FnMut(TensorInfo<'_>, &dyn ModelTensor<E, D>) -> Result<(), R>,
) -> Result<(), R> {
    let mut failure = None;
    walk(module, &mut |info, tensor| match visit(info, tensor) {
        Ok(()) => ControlFlow::Continue(()),
        Err(error) => {
            failure = Some(error);
            ControlFlow::Break(())
        }
    });
    failure.map_or(Ok(()), Err)
}

/// Hands every tensor of `module` to `visit` to change, in the module's order; stops at the
/// first error.
pub fn for_each_tensor_mut<M: TensorCollection<E, D>, E: Float, D: Device<E>, R>(
    module: &mut M,
    mut visit: impl FnMut(TensorInfo<'_>, &mut dyn ModelTensor<E, D>) -> Result<(), R>,
) -> Result<(), R> {
    let mut failure = None;
    walk_mut(module, &mut |info, tensor| match visit(info, tensor) {
        Ok(()) => ControlFlow::Continue(()),
        Err(error) => {
            failure = Some(error);
            ControlFlow::Break(())
        }
    });
    failure.map_or(Ok(()), Err)
}

/// The number of trainable elements of `module` (BatchNorm running statistics excluded), as
/// dfdx's `num_trainable_params` counts them, through the shared walk.
pub fn trainable_parameters<M: TensorCollection<E, D>, E: Float, D: Device<E>>(
    module: &M,
) -> usize {
    let mut count = 0;
    let counted: Result<(), std::convert::Infallible> = for_each_tensor(module, |info, tensor| {
        if info.trainable {
            count += tensor.element_count();
        }
        Ok(())
    });
    counted.unwrap_or_else(|never| match never {});
    count
}
