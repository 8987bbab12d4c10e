//! Ops on an input `x` and weights `w` with an optional bias, such as a
//! convolution or a fully connected layer: each implements [`BiasedOp`]
//! once, and [`WithBias`] makes it Candle's two-argument custom op (no
//! bias) and three-argument one (bias).

use candle_core::{CpuStorage, CustomOp2, CustomOp3, Layout, Result, Shape, Tensor};

/// An op `(x, w[, bias]) -> y` with its backward.
pub(crate) trait BiasedOp: Send + Sync + 'static {
    /// The op's name in Candle's graph.
    fn name(&self) -> &'static str;

    /// The forward on CPU storage.
    fn forward(
        &self,
        x: (&CpuStorage, &Layout),
        w: (&CpuStorage, &Layout),
        bias: Option<(&CpuStorage, &Layout)>,
    ) -> Result<(CpuStorage, Shape)>;

    /// `(dx, dw, dbias)` for the output `y` and its gradient `dy`, each
    /// only where backprop will use it (`dbias` only with a bias).
    fn grads(
        &self,
        x: &Tensor,
        w: &Tensor,
        bias: Option<&Tensor>,
        y: &Tensor,
        dy: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)>;
}

/// A [`BiasedOp`] as Candle's custom ops.
struct WithBias<Op>(Op);

impl<Op: BiasedOp> CustomOp2 for WithBias<Op> {
    fn name(&self) -> &'static str {
        self.0.name()
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        self.0.forward((s1, l1), (s2, l2), None)
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        y: &Tensor,
        dy: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let (dx, dw, _) = self.0.grads(x, w, None, y, dy)?;
        Ok((dx, dw))
    }
}

impl<Op: BiasedOp> CustomOp3 for WithBias<Op> {
    fn name(&self) -> &'static str {
        self.0.name()
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        self.0.forward((s1, l1), (s2, l2), Some((s3, l3)))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        b: &Tensor,
        y: &Tensor,
        dy: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        self.0.grads(x, w, Some(b), y, dy)
    }
}

/// Applies `op` to `(x, w)` or `(x, w, bias)`, made contiguous.
pub(crate) fn apply<Op: BiasedOp>(
    x: &Tensor,
    w: &Tensor,
    bias: Option<&Tensor>,
    op: Op,
) -> Result<Tensor> {
    let (x, w) = (x.contiguous()?, w.contiguous()?);
    match bias {
        Some(b) => x.apply_op3(&w, &b.contiguous()?, WithBias(op)),
        None => x.apply_op2(&w, WithBias(op)),
    }
}
