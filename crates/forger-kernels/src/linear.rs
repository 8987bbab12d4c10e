//! `y = x W^T + b` on 2-D input as a Candle custom op, one gemm per pass.
//!
//! With Candle's ops (`x.matmul(&w.t())` as in `candle_nn::Linear`), the
//! weight gradient comes out as `[in, out]` and reaches `W` through the
//! transpose node as a strided view that must be copied element by element
//! into `W`'s layout; on the cats-vs-dogs CNN's 4096 x 512 layer that copy
//! took about 13% of a training step. Here `dW = dy^T x` is one gemm that
//! writes `[out, in]` directly (the transposes are operand strides), and
//! the bias gradient is a column sum instead of a broadcast-reduce.

use candle_core::backend::BackendStorage;
use candle_core::{bail, CpuStorage, CustomOp1, CustomOp2, Layout, Result, Shape, Tensor};

use super::biased::BiasedOp;
use super::contiguous;
use super::gemm::{matmul, zeros, Float, Operand};
use super::ops::wanted;

/// Sizes of one linear layer application: `x` is `n x inputs`, `W` is
/// `outputs x inputs`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LinearOp {
    pub n: usize,
    pub inputs: usize,
    pub outputs: usize,
}

/// What a [`Pass`] computes.
#[derive(Debug, Clone, Copy)]
enum Kind {
    /// `(x, W[, b]) -> y`
    Forward,
    /// `(dy, W) -> dx`
    InputGrad,
    /// `(dy, x) -> dW`
    WeightGrad,
    /// `dy -> db`
    BiasGrad,
}

/// One pass of the layer, without backward.
#[derive(Debug, Clone, Copy)]
struct Pass {
    sizes: LinearOp,
    kind: Kind,
}

fn threads() -> usize {
    candle_core::utils::get_num_threads().max(1)
}

impl Pass {
    fn shape(&self) -> Shape {
        let LinearOp { n, inputs, outputs } = self.sizes;
        match self.kind {
            Kind::Forward => (n, outputs).into(),
            Kind::InputGrad => (n, inputs).into(),
            Kind::WeightGrad => (outputs, inputs).into(),
            Kind::BiasGrad => outputs.into(),
        }
    }

    /// The pass on contiguous slices; `b` is the second operand (absent for
    /// the bias gradient) and `bias` the forward's bias.
    fn run<T: Float>(&self, a: &[T], b: &[T], bias: Option<&[T]>) -> Vec<T> {
        let LinearOp { n, inputs, outputs } = self.sizes;
        let mut out = zeros(self.shape().elem_count());
        match self.kind {
            Kind::Forward => {
                if let Some(bias) = bias {
                    for row in out.chunks_mut(outputs) {
                        row.copy_from_slice(bias);
                    }
                }
                let (x, w) = (Operand::plain(a), Operand::transposed(b));
                matmul(
                    (n, outputs, inputs),
                    &mut out,
                    bias.is_some(),
                    x,
                    w,
                    threads(),
                );
            }
            Kind::InputGrad => {
                let (dy, w) = (Operand::plain(a), Operand::plain(b));
                matmul((n, inputs, outputs), &mut out, false, dy, w, threads());
            }
            Kind::WeightGrad => {
                let (dy_t, x) = (Operand::transposed(a), Operand::plain(b));
                matmul((outputs, inputs, n), &mut out, false, dy_t, x, threads());
            }
            Kind::BiasGrad => {
                for row in a.chunks_exact(outputs) {
                    for (db, &dy) in out.iter_mut().zip(row) {
                        *db += dy;
                    }
                }
            }
        }
        out
    }

    fn typed<T: Float>(
        &self,
        a: (&CpuStorage, &Layout),
        b: Option<(&CpuStorage, &Layout)>,
        bias: Option<(&CpuStorage, &Layout)>,
    ) -> Result<Vec<T>> {
        fn slice<'a, T: Float>((s, l): (&'a CpuStorage, &Layout), what: &str) -> Result<&'a [T]> {
            contiguous(s.as_slice::<T>()?, l, what)
        }
        let a = slice(a, "first operand")?;
        let b = match b {
            Some(b) => slice(b, "second operand")?,
            None => &[],
        };
        let bias = bias.map(|bias| slice(bias, "bias")).transpose()?;
        Ok(self.run(a, b, bias))
    }

    fn cpu(
        &self,
        a: (&CpuStorage, &Layout),
        b: Option<(&CpuStorage, &Layout)>,
        bias: Option<(&CpuStorage, &Layout)>,
    ) -> Result<(CpuStorage, Shape)> {
        let out = match a.0 {
            CpuStorage::F32(_) => CpuStorage::F32(self.typed(a, b, bias)?),
            CpuStorage::F64(_) => CpuStorage::F64(self.typed(a, b, bias)?),
            s => bail!("forger linear takes f32 or f64, got {:?}", s.dtype()),
        };
        Ok((out, self.shape()))
    }

    fn name(&self) -> &'static str {
        match self.kind {
            Kind::Forward => "forger-linear",
            Kind::InputGrad => "forger-linear-input-grad",
            Kind::WeightGrad => "forger-linear-weight-grad",
            Kind::BiasGrad => "forger-linear-bias-grad",
        }
    }
}

impl CustomOp1 for Pass {
    fn name(&self) -> &'static str {
        Pass::name(self)
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        self.cpu((s, l), None, None)
    }
}

impl CustomOp2 for Pass {
    fn name(&self) -> &'static str {
        Pass::name(self)
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        self.cpu((s1, l1), Some((s2, l2)), None)
    }
}

impl LinearOp {
    fn pass(self, kind: Kind) -> Pass {
        Pass { sizes: self, kind }
    }
}

impl BiasedOp for LinearOp {
    fn name(&self) -> &'static str {
        "forger-linear"
    }

    fn forward(
        &self,
        x: (&CpuStorage, &Layout),
        w: (&CpuStorage, &Layout),
        bias: Option<(&CpuStorage, &Layout)>,
    ) -> Result<(CpuStorage, Shape)> {
        self.pass(Kind::Forward).cpu(x, Some(w), bias)
    }

    fn grads(
        &self,
        x: &Tensor,
        w: &Tensor,
        bias: Option<&Tensor>,
        _y: &Tensor,
        dy: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let dy = dy.contiguous()?;
        let dx = wanted(x, || dy.apply_op2_no_bwd(w, &self.pass(Kind::InputGrad)))?;
        let dw = wanted(w, || dy.apply_op2_no_bwd(x, &self.pass(Kind::WeightGrad)))?;
        let db = match bias {
            Some(b) => wanted(b, || dy.apply_op1_no_bwd(&self.pass(Kind::BiasGrad)))?,
            None => None,
        };
        Ok((dx, dw, db))
    }
}
