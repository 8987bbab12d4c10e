//! The kernels as Candle custom ops: [`Conv2dOp`] and [`ConvTranspose2dOp`]
//! record themselves for backprop; their gradients are computed by the
//! no-backward [`Primitive`] ops.

use candle_core::backend::BackendStorage;
use candle_core::{bail, CpuStorage, CustomOp1, CustomOp2, Layout, Result, Shape, Tensor};

use super::activation::LeakyRelu;
use super::biased::BiasedOp;
use super::gemm::Float;
use super::geometry::Geometry;
use super::{compute, contiguous, shifted};

/// Which of the convolution primitives a [`Primitive`] op runs.
#[derive(Debug, Clone, Copy)]
enum Kind {
    /// `(x, w) -> y`
    Forward,
    /// `(dy, w) -> dx`
    InputGrad,
    /// `(x, dy) -> dw`
    WeightGrad,
    /// `dy -> db` (one argument)
    BiasGrad,
}

/// One convolution primitive, without backward.
#[derive(Debug, Clone, Copy)]
struct Primitive {
    g: Geometry,
    kind: Kind,
}

impl Primitive {
    fn shape(&self) -> Shape {
        match self.kind {
            Kind::Forward => self.g.output_shape().into(),
            Kind::InputGrad => self.g.input_shape().into(),
            Kind::WeightGrad => self.g.kernel_shape().into(),
            Kind::BiasGrad => self.g.c_out.into(),
        }
    }

    fn run<T: Float>(&self, a: &[T], b: &[T], bias: Option<&[T]>) -> Vec<T> {
        let g = &self.g;
        if shifted::applies(g) {
            match self.kind {
                Kind::Forward => return shifted::forward(g, a, b, bias),
                Kind::InputGrad => return shifted::input_grad(g, a, b),
                Kind::WeightGrad => return shifted::weight_grad(g, a, b),
                Kind::BiasGrad => {}
            }
        }
        match self.kind {
            Kind::Forward => compute::forward(g, a, b, bias),
            Kind::InputGrad => compute::input_grad(g, a, b),
            Kind::WeightGrad => compute::weight_grad(g, a, b),
            Kind::BiasGrad => compute::bias_grad(g, a),
        }
    }

    /// Runs on f32 or f64 storage, with an optional per-channel bias (forward only).
    fn cpu(
        &self,
        a: (&CpuStorage, &Layout),
        b: (&CpuStorage, &Layout),
        bias: Option<(&CpuStorage, &Layout)>,
    ) -> Result<(CpuStorage, Shape)> {
        let out = match (a.0, b.0) {
            (CpuStorage::F32(x), CpuStorage::F32(y)) => {
                CpuStorage::F32(self.typed((x, a.1), (y, b.1), bias)?)
            }
            (CpuStorage::F64(x), CpuStorage::F64(y)) => {
                CpuStorage::F64(self.typed((x, a.1), (y, b.1), bias)?)
            }
            _ => bail!(
                "forger conv kernels take f32 or f64 tensors of one dtype, got {:?} and {:?}",
                a.0.dtype(),
                b.0.dtype()
            ),
        };
        Ok((out, self.shape()))
    }

    fn typed<T: Float>(
        &self,
        a: (&[T], &Layout),
        b: (&[T], &Layout),
        bias: Option<(&CpuStorage, &Layout)>,
    ) -> Result<Vec<T>> {
        let bias = match bias {
            Some((s, l)) => Some(contiguous(s.as_slice::<T>()?, l, "bias")?),
            None => None,
        };
        Ok(self.run(
            contiguous(a.0, a.1, "lhs")?,
            contiguous(b.0, b.1, "rhs")?,
            bias,
        ))
    }

    /// Applies the primitive to `(a, b)`, made contiguous.
    fn apply(self, a: &Tensor, b: &Tensor) -> Result<Tensor> {
        a.contiguous()?.apply_op2_no_bwd(&b.contiguous()?, &self)
    }
}

impl CustomOp2 for Primitive {
    fn name(&self) -> &'static str {
        match self.kind {
            Kind::Forward => "forger-conv2d",
            Kind::InputGrad => "forger-conv2d-input-grad",
            Kind::WeightGrad => "forger-conv2d-weight-grad",
            Kind::BiasGrad => "forger-conv2d-bias-grad",
        }
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        self.cpu((s1, l1), (s2, l2), None)
    }
}

impl CustomOp1 for Primitive {
    fn name(&self) -> &'static str {
        CustomOp2::name(self)
    }

    /// The one-argument primitive (the bias gradient).
    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        self.cpu((s, l), (s, l), None)
    }
}

/// Gradient for an argument only when backprop will use it: an input that
/// is neither a variable nor computed from one needs none.
pub(crate) fn wanted(
    arg: &Tensor,
    grad: impl FnOnce() -> Result<Tensor>,
) -> Result<Option<Tensor>> {
    if arg.track_op() {
        grad().map(Some)
    } else {
        Ok(None)
    }
}

/// `conv2d(x, w) [+ bias]`, then the optional activation, differentiable;
/// apply with `apply_op2`/`apply_op3`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Conv2dOp {
    pub g: Geometry,
    pub activation: Option<LeakyRelu>,
}

impl Conv2dOp {
    fn primitive(&self, kind: Kind) -> Primitive {
        Primitive { g: self.g, kind }
    }
}

impl BiasedOp for Conv2dOp {
    fn name(&self) -> &'static str {
        "forger-conv2d"
    }

    /// The convolution (and bias), then the activation in place.
    fn forward(
        &self,
        x: (&CpuStorage, &Layout),
        w: (&CpuStorage, &Layout),
        bias: Option<(&CpuStorage, &Layout)>,
    ) -> Result<(CpuStorage, Shape)> {
        let (mut y, shape) = self.primitive(Kind::Forward).cpu(x, w, bias)?;
        if let Some(act) = self.activation {
            match &mut y {
                CpuStorage::F32(v) => act.apply_in_place(v),
                CpuStorage::F64(v) => act.apply_in_place(v),
                other => bail!("forger conv2d: unexpected output dtype {:?}", other.dtype()),
            }
        }
        Ok((y, shape))
    }

    fn grads(
        &self,
        x: &Tensor,
        w: &Tensor,
        bias: Option<&Tensor>,
        y: &Tensor,
        dy: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        // The gradient of the convolution's own output: `dy` through the
        // activation's derivative, read off the output `y`.
        let dy = match self.activation {
            Some(act) => y.apply_op2_no_bwd(&dy.contiguous()?, &act.grad())?,
            None => dy.clone(),
        };
        let dx = wanted(x, || self.primitive(Kind::InputGrad).apply(&dy, w))?;
        let dw = wanted(w, || self.primitive(Kind::WeightGrad).apply(x, &dy))?;
        let db = match bias {
            Some(b) => wanted(b, || {
                dy.contiguous()?
                    .apply_op1_no_bwd(&self.primitive(Kind::BiasGrad))
            })?,
            None => None,
        };
        Ok((dx, dw, db))
    }
}

/// `conv_transpose2d(x, w)`, differentiable. The geometry is that of the
/// convolution whose input gradient this is: its output is `x`'s shape.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ConvTranspose2dOp(pub Geometry);

impl CustomOp2 for ConvTranspose2dOp {
    fn name(&self) -> &'static str {
        "forger-conv-transpose2d"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        Primitive {
            g: self.0,
            kind: Kind::InputGrad,
        }
        .cpu((s1, l1), (s2, l2), None)
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        _y: &Tensor,
        dy: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let g = self.0;
        let dx = wanted(x, || {
            Primitive {
                g,
                kind: Kind::Forward,
            }
            .apply(dy, w)
        })?;
        let dw = wanted(w, || {
            Primitive {
                g,
                kind: Kind::WeightGrad,
            }
            .apply(dy, x)
        })?;
        Ok((dx, dw))
    }
}
