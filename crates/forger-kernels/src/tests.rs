//! Property tests: many random shapes (odd sizes, strides 1 and 2,
//! asymmetric padding, output padding, batch 1) against a naive f64
//! reference written from the definitions, Candle's own ops, and finite
//! differences.

use candle_core::{DType, Device, Tensor, Var};
use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64;

use super::*;

fn rng(stream: u64) -> Pcg64 {
    Pcg64::seed_from_u64(0x6b65_726e_656c ^ stream)
}

fn random(rng: &mut Pcg64, dims: &[usize]) -> Vec<f64> {
    (0..dims.iter().product())
        .map(|_| rng.gen_range(-1.0..1.0))
        .collect()
}

fn tensor(v: &[f64], dims: &[usize]) -> Tensor {
    Tensor::from_slice(v, dims, &Device::Cpu).unwrap()
}

fn values(t: &Tensor) -> Vec<f64> {
    t.to_dtype(DType::F64)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1()
        .unwrap()
}

fn assert_close(got: &[f64], want: &[f64], tol: f64, what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: lengths");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g - w).abs() <= tol * (1.0 + w.abs()),
            "{what}: element {i}: {g} vs {w}"
        );
    }
}

/// A convolution case; `transposed` reads it as PyTorch's conv_transpose2d
/// with `w` `(c_in, c_out, k, k)` and `pad.0` as its padding.
#[derive(Debug, Clone, Copy)]
struct Case {
    n: usize,
    c_in: usize,
    c_out: usize,
    h: usize,
    w: usize,
    kh: usize,
    kw: usize,
    stride: usize,
    pad: Padding,
    output_padding: usize,
    transposed: bool,
}

impl Case {
    fn random(rng: &mut Pcg64, transposed: bool) -> Self {
        loop {
            let stride = rng.gen_range(1..=2);
            let kh = rng.gen_range(1..=5);
            let kw = if rng.gen_bool(0.7) {
                kh
            } else {
                rng.gen_range(1..=5)
            };
            let p = |rng: &mut Pcg64| rng.gen_range(0..=2);
            let pad = if transposed {
                Padding::uniform(p(rng).min(kh.min(kw) - 1))
            } else {
                Padding {
                    top: p(rng),
                    bottom: p(rng),
                    left: p(rng),
                    right: p(rng),
                }
            };
            let c = Case {
                n: if rng.gen_bool(0.3) {
                    1
                } else {
                    rng.gen_range(2..=5)
                },
                c_in: rng.gen_range(1..=4),
                c_out: rng.gen_range(1..=5),
                h: rng.gen_range(1..=9),
                // Sometimes wide enough for im2col's row-by-row path (see
                // `Geometry::tabulated`).
                w: if rng.gen_bool(0.3) {
                    rng.gen_range(14..=24)
                } else {
                    rng.gen_range(1..=9)
                },
                kh,
                kw,
                stride,
                pad,
                output_padding: if transposed {
                    rng.gen_range(0..stride)
                } else {
                    0
                },
                transposed,
            };
            if c.out_hw().is_some() {
                return c;
            }
        }
    }

    fn x_dims(&self) -> [usize; 4] {
        [self.n, self.c_in, self.h, self.w]
    }

    fn w_dims(&self) -> [usize; 4] {
        if self.transposed {
            [self.c_in, self.c_out, self.kh, self.kw]
        } else {
            [self.c_out, self.c_in, self.kh, self.kw]
        }
    }

    fn out_hw(&self) -> Option<(usize, usize)> {
        let (s, p) = (self.stride, self.pad);
        if self.transposed {
            let o = |len: usize, k: usize| {
                ((len - 1) * s + k + self.output_padding)
                    .checked_sub(2 * p.top)
                    .filter(|&o| o > 0)
            };
            Some((o(self.h, self.kh)?, o(self.w, self.kw)?))
        } else {
            let o = |len: usize, a: usize, b: usize, k: usize| {
                (len + a + b).checked_sub(k).map(|d| d / s + 1)
            };
            Some((
                o(self.h, p.top, p.bottom, self.kh)?,
                o(self.w, p.left, p.right, self.kw)?,
            ))
        }
    }

    fn y_dims(&self) -> [usize; 4] {
        let (oh, ow) = self.out_hw().unwrap();
        [self.n, self.c_out, oh, ow]
    }

    /// Calls `f(x_index, w_index, y_index)` for every product in the op's
    /// sum, straight from the definitions.
    fn visit(&self, mut f: impl FnMut(usize, usize, usize)) {
        let [_, _, oh, ow] = self.y_dims();
        let (s, p) = (self.stride as isize, self.pad);
        for n in 0..self.n {
            for ci in 0..self.c_in {
                for co in 0..self.c_out {
                    for ky in 0..self.kh {
                        for kx in 0..self.kw {
                            let wi = if self.transposed {
                                ((ci * self.c_out + co) * self.kh + ky) * self.kw + kx
                            } else {
                                ((co * self.c_in + ci) * self.kh + ky) * self.kw + kx
                            };
                            for iy in 0..self.h as isize {
                                for ix in 0..self.w as isize {
                                    // conv: input (iy, ix) = out * s - pad + k
                                    // transposed: out = input * s - pad + k
                                    let (oy, ox) = if self.transposed {
                                        (
                                            iy * s - p.top as isize + ky as isize,
                                            ix * s - p.left as isize + kx as isize,
                                        )
                                    } else {
                                        let (dy, dx) = (
                                            iy + p.top as isize - ky as isize,
                                            ix + p.left as isize - kx as isize,
                                        );
                                        if dy % s != 0 || dx % s != 0 {
                                            continue;
                                        }
                                        (dy / s, dx / s)
                                    };
                                    if oy < 0 || ox < 0 || oy >= oh as isize || ox >= ow as isize {
                                        continue;
                                    }
                                    let xi = ((n * self.c_in + ci) * self.h + iy as usize) * self.w
                                        + ix as usize;
                                    let yi = ((n * self.c_out + co) * oh + oy as usize) * ow
                                        + ox as usize;
                                    f(xi, wi, yi);
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    fn naive(&self, x: &[f64], w: &[f64], bias: Option<&[f64]>) -> Vec<f64> {
        let [_, c, oh, ow] = self.y_dims();
        let mut y = vec![0.0; self.n * c * oh * ow];
        if let Some(b) = bias {
            for (i, v) in y.iter_mut().enumerate() {
                *v = b[(i / (oh * ow)) % c];
            }
        }
        self.visit(|xi, wi, yi| y[yi] += x[xi] * w[wi]);
        y
    }

    /// Gradients of `sum(y * r)` with respect to `x` and `w`.
    fn naive_grads(&self, x: &[f64], w: &[f64], r: &[f64]) -> (Vec<f64>, Vec<f64>) {
        let (mut dx, mut dw) = (vec![0.0; x.len()], vec![0.0; w.len()]);
        self.visit(|xi, wi, yi| {
            dx[xi] += r[yi] * w[wi];
            dw[wi] += r[yi] * x[xi];
        });
        (dx, dw)
    }

    /// forger's op.
    fn kernel(&self, x: &Tensor, w: &Tensor, b: Option<&Tensor>) -> Tensor {
        if self.transposed {
            conv_transpose2d(x, w, self.stride, self.pad.top, self.output_padding).unwrap()
        } else {
            conv2d(x, w, b, self.stride, self.pad).unwrap()
        }
    }

    /// Candle's op.
    fn candle(&self, x: &Tensor, w: &Tensor, b: Option<&Tensor>) -> Tensor {
        if self.transposed {
            x.conv_transpose2d(w, self.pad.top, self.output_padding, self.stride, 1)
                .unwrap()
        } else {
            candle_conv2d(x, w, b, self.stride, self.pad).unwrap()
        }
    }
}

/// Runs `f` with the small-plane kernels (`shifted`) where they apply, then
/// with im2col everywhere.
fn both_paths(f: impl Fn()) {
    for off in [false, true] {
        shifted::set_off(off);
        f();
    }
    shifted::set_off(false);
}

fn forward_matches(transposed: bool, stream: u64) {
    both_paths(|| forward_cases(transposed, stream));
}

fn forward_cases(transposed: bool, stream: u64) {
    let mut rng = rng(stream);
    for _ in 0..60 {
        let c = Case::random(&mut rng, transposed);
        let (x, w) = (random(&mut rng, &c.x_dims()), random(&mut rng, &c.w_dims()));
        let b = (!transposed && rng.gen_bool(0.5)).then(|| random(&mut rng, &[c.c_out]));
        let want = c.naive(&x, &w, b.as_deref());
        let (xt, wt) = (tensor(&x, &c.x_dims()), tensor(&w, &c.w_dims()));
        let bt = b.as_ref().map(|b| tensor(b, &[c.c_out]));
        let got = c.kernel(&xt, &wt, bt.as_ref());
        assert_eq!(got.dims(), c.y_dims(), "{c:?}");
        assert_close(&values(&got), &want, 1e-12, &format!("f64 forward {c:?}"));
        let f32s = |t: &Tensor| t.to_dtype(DType::F32).unwrap();
        let bt32 = bt.as_ref().map(f32s);
        let got32 = c.kernel(&f32s(&xt), &f32s(&wt), bt32.as_ref());
        let candle32 = c.candle(&f32s(&xt), &f32s(&wt), bt32.as_ref());
        assert_close(
            &values(&got32),
            &values(&candle32),
            1e-5,
            &format!("f32 forward vs Candle {c:?}"),
        );
    }
}

#[test]
fn conv2d_forward_matches_naive_and_candle() {
    forward_matches(false, 1);
}

#[test]
fn conv_transpose2d_forward_matches_naive_and_candle() {
    forward_matches(true, 2);
}

fn backward_matches(transposed: bool, stream: u64) {
    both_paths(|| backward_cases(transposed, stream));
}

fn backward_cases(transposed: bool, stream: u64) {
    let mut rng = rng(stream);
    for case in 0..60 {
        let c = Case::random(&mut rng, transposed);
        let (x, w, r) = (
            random(&mut rng, &c.x_dims()),
            random(&mut rng, &c.w_dims()),
            random(&mut rng, &c.y_dims()),
        );
        let b = (!transposed).then(|| random(&mut rng, &[c.c_out]));
        let rt = tensor(&r, &c.y_dims());
        let loss = |x: &Tensor, w: &Tensor, b: Option<&Tensor>| {
            c.kernel(x, w, b).mul(&rt).unwrap().sum_all().unwrap()
        };
        // Every third case the input is a constant: its gradient is skipped.
        let x_var = case % 3 != 0;
        let xv = Var::from_slice(&x, &c.x_dims(), &Device::Cpu).unwrap();
        let xt = if x_var {
            xv.as_tensor().clone()
        } else {
            tensor(&x, &c.x_dims())
        };
        let wv = Var::from_slice(&w, &c.w_dims(), &Device::Cpu).unwrap();
        let bv = b
            .as_ref()
            .map(|b| Var::from_slice(b, &[c.c_out], &Device::Cpu).unwrap());
        let grads = loss(&xt, wv.as_tensor(), bv.as_ref().map(|v| v.as_tensor()))
            .backward()
            .unwrap();
        let (dx, dw) = c.naive_grads(&x, &w, &r);
        assert_close(
            &values(grads.get(&wv).unwrap()),
            &dw,
            1e-12,
            &format!("dw {c:?}"),
        );
        match grads.get(&xt) {
            Some(g) => assert_close(&values(g), &dx, 1e-12, &format!("dx {c:?}")),
            None => assert!(!x_var, "no dx for a variable input {c:?}"),
        }
        if let (Some(bv), Some(_)) = (&bv, &b) {
            let db: Vec<f64> = (0..c.c_out)
                .map(|co| {
                    (0..r.len())
                        .filter(|i| (i / (c.y_dims()[2] * c.y_dims()[3])) % c.c_out == co)
                        .map(|i| r[i])
                        .sum()
                })
                .collect();
            assert_close(
                &values(grads.get(bv).unwrap()),
                &db,
                1e-12,
                &format!("db {c:?}"),
            );
        }
        // Finite differences of the kernel's own forward, at a few entries.
        let eps = 1e-4;
        let f = |x: &[f64], w: &[f64]| {
            let bt = b.as_ref().map(|b| tensor(b, &[c.c_out]));
            loss(
                &tensor(x, &c.x_dims()),
                &tensor(w, &c.w_dims()),
                bt.as_ref(),
            )
            .to_scalar::<f64>()
            .unwrap()
        };
        for _ in 0..3 {
            let i = rng.gen_range(0..x.len());
            let (mut plus, mut minus) = (x.clone(), x.clone());
            plus[i] += eps;
            minus[i] -= eps;
            let numeric = (f(&plus, &w) - f(&minus, &w)) / (2.0 * eps);
            assert!(
                (numeric - dx[i]).abs() < 1e-7,
                "dx[{i}] {numeric} vs {} {c:?}",
                dx[i]
            );
            let j = rng.gen_range(0..w.len());
            let (mut plus, mut minus) = (w.clone(), w.clone());
            plus[j] += eps;
            minus[j] -= eps;
            let numeric = (f(&x, &plus) - f(&x, &minus)) / (2.0 * eps);
            assert!(
                (numeric - dw[j]).abs() < 1e-7,
                "dw[{j}] {numeric} vs {} {c:?}",
                dw[j]
            );
        }
    }
}

#[test]
fn conv2d_backward_matches_naive_and_finite_differences() {
    backward_matches(false, 3);
}

#[test]
fn conv_transpose2d_backward_matches_naive_and_finite_differences() {
    backward_matches(true, 4);
}

#[test]
fn f32_backward_matches_candle_on_tutorial_like_shapes() {
    let mut rng = rng(5);
    // A SAME 4x4 (asymmetric) conv, a strided 5x5 conv, and the two DCGAN
    // transposed convs. (Candle's own conv2d backward fails for stride 2 on
    // a 13x14 input: it takes the output padding of both sides from the
    // height. The naive-reference tests above cover such shapes.)
    for c in [
        Case {
            n: 3,
            c_in: 4,
            c_out: 8,
            h: 14,
            w: 14,
            kh: 4,
            kw: 4,
            stride: 1,
            pad: Padding::same(4),
            output_padding: 0,
            transposed: false,
        },
        Case {
            n: 2,
            c_in: 3,
            c_out: 6,
            h: 13,
            w: 13,
            kh: 5,
            kw: 5,
            stride: 2,
            pad: Padding::uniform(2),
            output_padding: 0,
            transposed: false,
        },
        Case {
            n: 2,
            c_in: 6,
            c_out: 4,
            h: 7,
            w: 7,
            kh: 5,
            kw: 5,
            stride: 1,
            pad: Padding::uniform(2),
            output_padding: 0,
            transposed: true,
        },
        Case {
            n: 1,
            c_in: 4,
            c_out: 3,
            h: 7,
            w: 7,
            kh: 5,
            kw: 5,
            stride: 2,
            pad: Padding::uniform(2),
            output_padding: 1,
            transposed: true,
        },
    ] {
        let xv = Var::from_slice(
            &random(&mut rng, &c.x_dims())
                .iter()
                .map(|&v| v as f32)
                .collect::<Vec<_>>(),
            &c.x_dims(),
            &Device::Cpu,
        )
        .unwrap();
        let wv = Var::from_slice(
            &random(&mut rng, &c.w_dims())
                .iter()
                .map(|&v| v as f32)
                .collect::<Vec<_>>(),
            &c.w_dims(),
            &Device::Cpu,
        )
        .unwrap();
        let r = tensor(&random(&mut rng, &c.y_dims()), &c.y_dims())
            .to_dtype(DType::F32)
            .unwrap();
        let ours = c
            .kernel(&xv, &wv, None)
            .mul(&r)
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();
        let theirs = c
            .candle(&xv, &wv, None)
            .mul(&r)
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();
        for v in [&xv, &wv] {
            assert_close(
                &values(ours.get(v).unwrap()),
                &values(theirs.get(v).unwrap()),
                1e-4,
                &format!("{c:?}"),
            );
        }
    }
}

#[test]
fn max_pool_matches_reference_and_finite_differences() {
    let mut rng = rng(6);
    for _ in 0..40 {
        let k = rng.gen_range(1..=3);
        let dims = [
            rng.gen_range(1..=3),
            rng.gen_range(1..=3),
            rng.gen_range(k..=9),
            rng.gen_range(k..=9),
        ];
        let x = random(&mut rng, &dims);
        let (ho, wo) = (dims[2] / k, dims[3] / k);
        let r = random(&mut rng, &[dims[0], dims[1], ho, wo]);
        let rt = tensor(&r, &[dims[0], dims[1], ho, wo]);
        let xv = Var::from_slice(&x, dims.as_slice(), &Device::Cpu).unwrap();
        let y = max_pool2d(&xv, k).unwrap();
        // Reference: the window maxima by brute force.
        let mut want = vec![f64::NEG_INFINITY; r.len()];
        for (i, &v) in x.iter().enumerate() {
            let (col, row, plane) = (
                i % dims[3],
                (i / dims[3]) % dims[2],
                i / (dims[2] * dims[3]),
            );
            if row / k < ho && col / k < wo {
                let o = (plane * ho + row / k) * wo + col / k;
                want[o] = want[o].max(v);
            }
        }
        assert_close(&values(&y), &want, 0.0, "max-pool forward");
        let dx = values(
            y.mul(&rt)
                .unwrap()
                .sum_all()
                .unwrap()
                .backward()
                .unwrap()
                .get(&xv)
                .unwrap(),
        );
        let f = |v: &[f64]| {
            max_pool2d(&tensor(v, &dims), k)
                .unwrap()
                .mul(&rt)
                .unwrap()
                .sum_all()
                .unwrap()
                .to_scalar::<f64>()
                .unwrap()
        };
        // Random values are distinct, so every entry has a derivative.
        for i in 0..x.len() {
            let (mut plus, mut minus) = (x.clone(), x.clone());
            plus[i] += 1e-7;
            minus[i] -= 1e-7;
            let numeric = (f(&plus) - f(&minus)) / 2e-7;
            assert!(
                (numeric - dx[i]).abs() < 1e-6,
                "dx[{i}] {numeric} vs {} for {dims:?} k {k}",
                dx[i]
            );
        }
    }
}

#[test]
fn strided_inputs_and_bad_shapes() {
    let dev = Device::Cpu;
    let x = Tensor::arange(0f32, 2. * 3. * 5. * 4., &dev)
        .unwrap()
        .reshape((2, 3, 4, 5))
        .unwrap()
        .transpose(2, 3)
        .unwrap();
    let w = Tensor::ones((2, 3, 3, 3), DType::F32, &dev).unwrap();
    let ours = conv2d(&x, &w, None, 1, Padding::uniform(1)).unwrap();
    let theirs = x.conv2d(&w, 1, 1, 1, 1).unwrap();
    assert_close(&values(&ours), &values(&theirs), 1e-6, "transposed input");
    assert!(conv2d(
        &x,
        &Tensor::ones((2, 4, 3, 3), DType::F32, &dev).unwrap(),
        None,
        1,
        Padding::default()
    )
    .unwrap_err()
    .to_string()
    .contains("channels"));
    assert!(conv2d(
        &x,
        &Tensor::ones((2, 3, 7, 7), DType::F32, &dev).unwrap(),
        None,
        1,
        Padding::default()
    )
    .unwrap_err()
    .to_string()
    .contains("exceeds"));
    assert!(conv_transpose2d(
        &x,
        &Tensor::ones((3, 2, 3, 3), DType::F32, &dev).unwrap(),
        1,
        0,
        1
    )
    .unwrap_err()
    .to_string()
    .contains("output_padding"));
    assert!(max_pool2d(&x, 6).is_err());
    // An empty batch gives an empty batch.
    let empty = Tensor::zeros((0, 3, 5, 4), DType::F32, &dev).unwrap();
    assert_eq!(
        conv2d(&empty, &w, None, 2, Padding::uniform(1))
            .unwrap()
            .dims(),
        &[0, 2, 3, 2]
    );
    let wt = Tensor::ones((3, 2, 3, 3), DType::F32, &dev).unwrap();
    assert_eq!(
        conv_transpose2d(&empty, &wt, 2, 1, 1).unwrap().dims(),
        &[0, 2, 10, 8]
    );
    assert_eq!(max_pool2d(&empty, 2).unwrap().dims(), &[0, 3, 2, 2]);
}

#[test]
fn if_positive_picks_by_sign_at_the_edges() {
    use super::gemm::Float;
    let (a, b) = (1.5, -0.25);
    let cases = [
        (1e-300, a),
        (f64::INFINITY, a),
        (0.0, b),
        (-0.0, b),
        (-1e-300, b),
        (f64::NEG_INFINITY, b),
        (f64::NAN, b),
    ];
    for (c, want) in cases {
        assert_eq!(f64::if_positive(c, a, b), want, "f64, c = {c}");
        let c32 = if c.abs() == 1e-300 {
            c.signum() * 1e-40
        } else {
            c
        };
        assert_eq!(
            f32::if_positive(c32 as f32, a as f32, b as f32),
            want as f32,
            "f32, c = {c32}"
        );
    }
}

#[test]
fn leaky_relu_matches_candle_reference_and_finite_differences() {
    let mut rng = rng(7);
    for case in 0..30 {
        let slope = match case % 3 {
            0 => 0.0,
            1 => 0.2,
            _ => rng.gen_range(0.0..1.0),
        };
        // Some shapes span several parallel tasks.
        let dims = if case % 5 == 0 {
            vec![rng.gen_range(1..=3), rng.gen_range(1..=7), 101, 103]
        } else {
            vec![rng.gen_range(1..=4), rng.gen_range(1..=9)]
        };
        // Away from 0, where the derivative jumps.
        let x: Vec<f64> = random(&mut rng, &dims)
            .into_iter()
            .map(|v| if v.abs() < 1e-3 { v + 0.01 } else { v })
            .collect();
        let r = random(&mut rng, &dims);
        let (xt, rt) = (tensor(&x, &dims), tensor(&r, &dims));
        let xv = Var::from_tensor(&xt).unwrap();
        let y = leaky_relu(&xv, slope).unwrap();
        let want: Vec<f64> = x
            .iter()
            .map(|&v| if v > 0.0 { v } else { slope * v })
            .collect();
        assert_close(&values(&y), &want, 0.0, "leaky-relu forward");
        let theirs = if slope == 0.0 {
            xt.relu().unwrap()
        } else {
            candle_nn::ops::leaky_relu(&xt, slope).unwrap()
        };
        assert_close(&values(&y), &values(&theirs), 1e-15, "leaky-relu vs Candle");
        let dx = values(
            y.mul(&rt)
                .unwrap()
                .sum_all()
                .unwrap()
                .backward()
                .unwrap()
                .get(&xv)
                .unwrap(),
        );
        let want: Vec<f64> = x
            .iter()
            .zip(&r)
            .map(|(&v, &g)| if v > 0.0 { g } else { slope * g })
            .collect();
        assert_close(&dx, &want, 0.0, "leaky-relu backward");
        // Finite differences on a few elements (the loss is piecewise linear).
        let f = |v: &[f64]| {
            leaky_relu(&tensor(v, &dims), slope)
                .unwrap()
                .mul(&rt)
                .unwrap()
                .sum_all()
                .unwrap()
                .to_scalar::<f64>()
                .unwrap()
        };
        for i in (0..x.len()).step_by(x.len().div_ceil(7)) {
            let (mut plus, mut minus) = (x.clone(), x.clone());
            // A step that crosses no kink: every |x| is at least 1e-3.
            plus[i] += 1e-4;
            minus[i] -= 1e-4;
            let numeric = (f(&plus) - f(&minus)) / 2e-4;
            assert!(
                (numeric - dx[i]).abs() < 1e-6,
                "dx[{i}] {numeric} vs {}",
                dx[i]
            );
        }
    }
    // Non-contiguous f32 input, and the gradient at 0 is the slope.
    let x = Var::new(&[[0f32, -2.0], [3.0, 0.0]], &Device::Cpu).unwrap();
    let y = leaky_relu(&x.as_tensor().t().unwrap(), 0.5).unwrap();
    assert_eq!(
        y.to_vec2::<f32>().unwrap(),
        vec![vec![0.0, 3.0], vec![-1.0, 0.0]]
    );
    let g = y.sum_all().unwrap().backward().unwrap();
    assert_eq!(
        g.get(&x).unwrap().to_vec2::<f32>().unwrap(),
        vec![vec![0.5, 0.5], vec![1.0, 0.5]]
    );
}

/// Candle's batch norm over `c` channels with `gamma` and `beta` (its
/// running statistics, which training mode does not read, fresh).
fn candle_batch_norm(gamma: &Var, beta: &Var, c: usize) -> candle_nn::BatchNorm {
    let running = |v: f64| Tensor::from_slice(&vec![v; c], c, &Device::Cpu).unwrap();
    candle_nn::BatchNorm::new(
        c,
        running(0.5),
        running(2.0),
        gamma.as_tensor().clone(),
        beta.as_tensor().clone(),
        1e-5,
    )
    .unwrap()
}

/// Per channel of `x` (shape `dims`, channels second): the mean and the
/// biased variance, naively in f64.
fn channel_stats(x: &[f64], dims: &[usize]) -> Vec<f64> {
    let (c, rest) = (dims[1], dims[2..].iter().product::<usize>());
    let count = (x.len() / c) as f64;
    let channel = |i: usize| (i / rest) % c;
    let mut mean = vec![0.0; c];
    for (i, v) in x.iter().enumerate() {
        mean[channel(i)] += v / count;
    }
    let mut var = vec![0.0; c];
    for (i, v) in x.iter().enumerate() {
        var[channel(i)] += (v - mean[channel(i)]).powi(2) / count;
    }
    mean.into_iter().chain(var).collect()
}

#[test]
fn batch_norm_matches_candle_and_finite_differences() {
    use candle_core::ModuleT;
    let mut rng = rng(8);
    for case in 0..25 {
        // Rank 2 (as after a linear layer) and rank 4, batch 1 included
        // where there are several values per channel.
        let dims = match case % 3 {
            // More images than are summed in one run, more channels than
            // one parallel block.
            0 if case == 24 => vec![130, 1030],
            0 => vec![rng.gen_range(2..=9), rng.gen_range(1..=40)],
            1 => vec![
                rng.gen_range(1..=3),
                rng.gen_range(1..=20),
                rng.gen_range(2..=7),
                rng.gen_range(1..=7),
            ],
            _ => vec![rng.gen_range(2..=5), rng.gen_range(17..=40), 3, 5],
        };
        let c = dims[1];
        let x = random(&mut rng, &dims);
        let r = random(&mut rng, &dims);
        let rt = tensor(&r, &dims);
        let gamma = Var::from_slice(&random(&mut rng, &[c]), c, &Device::Cpu).unwrap();
        let beta = Var::from_slice(&random(&mut rng, &[c]), c, &Device::Cpu).unwrap();
        let xv = Var::from_slice(&x, dims.as_slice(), &Device::Cpu).unwrap();
        let theirs = candle_batch_norm(&gamma, &beta, c);
        // No activation, then fused LeakyReLU (against Candle's), then ReLU.
        let slope = [None, Some(0.2), Some(0.0)][case % 3];
        let what = format!("{dims:?} slope {slope:?}");
        let forward = |x: &Tensor| {
            batch_norm_train(x, &gamma, &beta, 1e-5, slope)
                .unwrap()
                .expect("the kernels run on the CPU in f64")
        };
        let run = |y: Tensor| {
            let grads = y.mul(&rt).unwrap().sum_all().unwrap().backward().unwrap();
            let g = |v: &Var| values(grads.get(v).unwrap());
            (values(&y), g(&xv), g(&gamma), g(&beta))
        };
        let candle_y = theirs.forward_t(&xv, true).unwrap();
        let candle_y = match slope {
            Some(slope) => candle_nn::ops::leaky_relu(&candle_y, slope).unwrap(),
            None => candle_y,
        };
        let (y, stats) = forward(&xv);
        let (a, b) = (run(y), run(candle_y));
        assert_close(&a.0, &b.0, 1e-10, &format!("batch-norm forward {what}"));
        assert_close(&a.1, &b.1, 1e-9, &format!("batch-norm dx {what}"));
        assert_close(&a.2, &b.2, 1e-9, &format!("batch-norm dgamma {what}"));
        assert_close(&a.3, &b.3, 1e-9, &format!("batch-norm dbeta {what}"));
        // The batch statistics, for the running averages.
        assert_eq!(stats.dims(), [2, c]);
        assert_close(
            &values(&stats),
            &channel_stats(&x, &dims),
            1e-12,
            &format!("batch-norm statistics {what}"),
        );
        // Finite differences for a few inputs.
        if case < 8 {
            let f = |v: &[f64]| {
                forward(&tensor(v, &dims))
                    .0
                    .mul(&rt)
                    .unwrap()
                    .sum_all()
                    .unwrap()
                    .to_scalar::<f64>()
                    .unwrap()
            };
            for i in (0..x.len()).step_by(x.len().div_ceil(9)) {
                let (mut plus, mut minus) = (x.clone(), x.clone());
                plus[i] += 1e-6;
                minus[i] -= 1e-6;
                let numeric = (f(&plus) - f(&minus)) / 2e-6;
                assert!(
                    (numeric - a.1[i]).abs() < 1e-5 * (1.0 + numeric.abs()),
                    "dx[{i}] {numeric} vs {} for {what}",
                    a.1[i]
                );
            }
        }
    }
}

#[test]
fn dropout_matches_its_mask_and_keeps_the_expectation() {
    let mut rng = rng(9);
    for case in 0..12 {
        let dims = if case % 4 == 0 {
            vec![rng.gen_range(1..=3), 7, 91, 97]
        } else {
            vec![
                rng.gen_range(1..=5),
                rng.gen_range(1..=6),
                rng.gen_range(1..=5),
            ]
        };
        let (p, seed) = ([0.0, 0.3, 0.5, 0.9][case % 4], rng.gen());
        let mask = dropout::Mask::new(p, seed).factors(dims.iter().product());
        let (x, r) = (random(&mut rng, &dims), random(&mut rng, &dims));
        let rt = tensor(&r, &dims);
        for dtype in [DType::F32, DType::F64] {
            let xv = Var::from_tensor(&tensor(&x, &dims).to_dtype(dtype).unwrap()).unwrap();
            let f = Tensor::from_slice(&mask, dims.as_slice(), &Device::Cpu)
                .unwrap()
                .to_dtype(dtype)
                .unwrap();
            let rt = rt.to_dtype(dtype).unwrap();
            let ours = dropout(&xv, p, seed).unwrap();
            let theirs = xv.mul(&f).unwrap();
            assert_close(&values(&ours), &values(&theirs), 0.0, "dropout forward");
            let grad = |y: &Tensor| {
                values(
                    y.mul(&rt)
                        .unwrap()
                        .sum_all()
                        .unwrap()
                        .backward()
                        .unwrap()
                        .get(&xv)
                        .unwrap(),
                )
            };
            assert_close(&grad(&ours), &grad(&theirs), 0.0, "dropout backward");
        }
    }
    // The share kept and the mean, over a million elements.
    let n = 1 << 20;
    for p in [0.1, 0.3, 0.7] {
        let kept = dropout::Mask::new(p, 42).factors(n);
        let share = kept.iter().filter(|&&f| f > 0.0).count() as f64 / n as f64;
        assert!((share - (1.0 - p)).abs() < 0.002, "p {p}: kept {share}");
        let mean = kept.iter().sum::<f64>() / n as f64;
        assert!((mean - 1.0).abs() < 0.01, "p {p}: mean factor {mean}");
    }
    // Another seed, another mask; a longer tensor extends the same mask.
    let (a, b) = (dropout::Mask::new(0.5, 1), dropout::Mask::new(0.5, 2));
    assert_ne!(a.factors(64), b.factors(64));
    assert_eq!(a.factors(100_000)[..70_000], a.factors(70_000)[..]);
    // A transposed input is read in its logical order; p outside [0, 1) is an error.
    let x = Tensor::new(&[[1f32, 2.0], [3.0, 4.0]], &Device::Cpu).unwrap();
    let y = dropout(&x.t().unwrap().contiguous().unwrap(), 0.5, 7).unwrap();
    let yt = dropout(&x.t().unwrap(), 0.5, 7).unwrap();
    assert_eq!(y.to_vec2::<f32>().unwrap(), yt.to_vec2::<f32>().unwrap());
    assert!(dropout(&x, 1.0, 7).is_err());
    assert!(dropout(&x, -0.1, 7).is_err());
}

#[test]
fn fused_conv_activation_matches_conv_then_activation() {
    let mut rng = rng(10);
    for i in 0..40 {
        let case = Case::random(&mut rng, false);
        let slope = if i % 2 == 0 { 0.0 } else { 0.2 };
        let (xd, wd) = (case.x_dims(), case.w_dims());
        let x = Var::from_slice(&random(&mut rng, &xd), &xd, &Device::Cpu).unwrap();
        let w = Var::from_slice(&random(&mut rng, &wd), &wd, &Device::Cpu).unwrap();
        let b =
            Var::from_slice(&random(&mut rng, &[case.c_out]), case.c_out, &Device::Cpu).unwrap();
        let yd = case.y_dims();
        let r = tensor(&random(&mut rng, &yd), &yd);
        let run = |fused: bool| {
            let y = if fused {
                conv2d_leaky_relu(&x, &w, Some(&b), case.stride, case.pad, slope).unwrap()
            } else {
                leaky_relu(
                    &conv2d(&x, &w, Some(&b), case.stride, case.pad).unwrap(),
                    slope,
                )
                .unwrap()
            };
            let grads = y.mul(&r).unwrap().sum_all().unwrap().backward().unwrap();
            let g = |v: &Var| values(grads.get(v).unwrap());
            (values(&y), g(&x), g(&w), g(&b))
        };
        let (a, e) = (run(true), run(false));
        let what = format!("{case:?} slope {slope}");
        assert_close(&a.0, &e.0, 0.0, &format!("fused forward {what}"));
        assert_close(&a.1, &e.1, 0.0, &format!("fused dx {what}"));
        assert_close(&a.2, &e.2, 0.0, &format!("fused dw {what}"));
        assert_close(&a.3, &e.3, 0.0, &format!("fused db {what}"));
    }
    let x = Tensor::zeros((1, 1, 3, 3), DType::F32, &Device::Cpu).unwrap();
    let w = Tensor::zeros((1, 1, 3, 3), DType::F32, &Device::Cpu).unwrap();
    assert!(conv2d_leaky_relu(&x, &w, None, 1, Padding::default(), -0.1).is_err());
}

#[test]
fn conv_pool_block_matches_the_three_ops_and_finite_differences() {
    let mut rng = rng(11);
    let mut cases = 0;
    while cases < 60 {
        let case = Case::random(&mut rng, false);
        let k = rng.gen_range(1..=3);
        let [_, _, oh, ow] = case.y_dims();
        if oh < k || ow < k {
            continue;
        }
        cases += 1;
        let slope = if cases % 2 == 0 { 0.0 } else { 0.2 };
        let (xd, wd) = (case.x_dims(), case.w_dims());
        let (x, w) = (random(&mut rng, &xd), random(&mut rng, &wd));
        // Every third case the input is a constant (no dx); every other, no bias.
        let xv = Var::from_slice(&x, &xd, &Device::Cpu).unwrap();
        let xt = if cases % 3 == 0 {
            tensor(&x, &xd)
        } else {
            xv.as_tensor().clone()
        };
        let wv = Var::from_slice(&w, &wd, &Device::Cpu).unwrap();
        let b = (cases % 2 == 1).then(|| {
            Var::from_slice(&random(&mut rng, &[case.c_out]), case.c_out, &Device::Cpu).unwrap()
        });
        let yd = [case.n, case.c_out, oh / k, ow / k];
        let r = tensor(&random(&mut rng, &yd), &yd);
        let block = |x: &Tensor, w: &Tensor, fused: bool| {
            let b = b.as_ref().map(|b| b.as_tensor());
            if fused {
                conv2d_leaky_relu_max_pool(x, w, b, case.stride, case.pad, slope, k).unwrap()
            } else {
                let y = conv2d_leaky_relu(x, w, b, case.stride, case.pad, slope).unwrap();
                max_pool2d(&y, k).unwrap()
            }
        };
        let run = |fused: bool| {
            let y = block(&xt, wv.as_tensor(), fused);
            let grads = y.mul(&r).unwrap().sum_all().unwrap().backward().unwrap();
            let g = |t: &Tensor| grads.get(t).map(values);
            (
                values(&y),
                g(&xt),
                g(wv.as_tensor()).unwrap(),
                b.as_ref().map(|b| g(b.as_tensor()).unwrap()),
            )
        };
        let (a, e) = (run(true), run(false));
        let what = format!("{case:?} k {k} slope {slope}");
        // (Not bit-exact: the separate stride-1 convolution of a small plane
        // runs tap by tap, summing in another order than the block's im2col.)
        assert_close(&a.0, &e.0, 1e-12, &format!("forward {what}"));
        assert_eq!(a.1.is_some(), cases % 3 != 0, "dx present {what}");
        if let (Some(got), Some(want)) = (&a.1, &e.1) {
            assert_close(got, want, 1e-12, &format!("dx {what}"));
        }
        assert_close(&a.2, &e.2, 1e-12, &format!("dw {what}"));
        if let (Some(got), Some(want)) = (&a.3, &e.3) {
            assert_close(got, want, 1e-12, &format!("db {what}"));
        }
        // Finite differences of the fused forward, at a few kernel entries.
        let f = |w: &[f64]| {
            let y = block(&tensor(&x, &xd), &tensor(w, &wd), true);
            y.mul(&r)
                .unwrap()
                .sum_all()
                .unwrap()
                .to_scalar::<f64>()
                .unwrap()
        };
        for _ in 0..3 {
            let j = rng.gen_range(0..w.len());
            let (mut plus, mut minus) = (w.clone(), w.clone());
            plus[j] += 1e-7;
            minus[j] -= 1e-7;
            let numeric = (f(&plus) - f(&minus)) / 2e-7;
            assert!(
                (numeric - a.2[j]).abs() < 1e-6,
                "dw[{j}] {numeric} vs {} {what}",
                a.2[j]
            );
        }
    }
    let x = Tensor::zeros((1, 1, 4, 4), DType::F32, &Device::Cpu).unwrap();
    let w = Tensor::zeros((1, 1, 3, 3), DType::F32, &Device::Cpu).unwrap();
    let pad = Padding::default();
    assert!(conv2d_leaky_relu_max_pool(&x, &w, None, 1, pad, -0.1, 2).is_err());
    assert!(conv2d_leaky_relu_max_pool(&x, &w, None, 1, pad, 0.0, 3).is_err());
    assert!(conv2d_leaky_relu_max_pool(&x, &w, None, 1, pad, 0.0, 0).is_err());
    let y = conv2d_leaky_relu_max_pool(&x, &w, None, 1, pad, 0.0, 2).unwrap();
    assert_eq!(y.dims(), [1, 1, 1, 1]);
}

#[test]
fn linear_matches_naive_candle_and_finite_differences() {
    let mut rng = rng(11);
    for case in 0..24 {
        // Batch 1, odd sizes, and some sizes past gemm's blocking.
        let n = if case % 4 == 0 {
            1
        } else {
            rng.gen_range(2..=40)
        };
        let inputs = if case % 6 == 1 {
            301
        } else {
            rng.gen_range(1..=37)
        };
        let outputs = rng.gen_range(1..=23);
        let with_bias = case % 3 != 2;
        let (x, w, b, r) = (
            random(&mut rng, &[n, inputs]),
            random(&mut rng, &[outputs, inputs]),
            random(&mut rng, &[outputs]),
            random(&mut rng, &[n, outputs]),
        );
        let xv = Var::from_tensor(&tensor(&x, &[n, inputs])).unwrap();
        let wv = Var::from_tensor(&tensor(&w, &[outputs, inputs])).unwrap();
        let bv = Var::from_tensor(&tensor(&b, &[outputs])).unwrap();
        let bias = with_bias.then_some(bv.as_tensor());
        let y = linear(&xv, &wv, bias).unwrap();
        // Naive f64 reference from the definition.
        let naive: Vec<f64> = (0..n * outputs)
            .map(|i| {
                let (row, o) = (i / outputs, i % outputs);
                let dot: f64 = (0..inputs)
                    .map(|k| x[row * inputs + k] * w[o * inputs + k])
                    .sum();
                dot + if with_bias { b[o] } else { 0.0 }
            })
            .collect();
        assert_close(&values(&y), &naive, 1e-12, "linear forward vs naive");
        let loss = |y: &Tensor| {
            y.mul(&tensor(&r, &[n, outputs]))
                .unwrap()
                .sum_all()
                .unwrap()
        };
        let ours = loss(&y).backward().unwrap();
        // Candle's own ops on the same variables.
        set_enabled(false);
        let theirs_y = linear(&xv, &wv, bias).unwrap();
        set_enabled(true);
        assert_close(
            &values(&y),
            &values(&theirs_y),
            1e-12,
            "linear forward vs Candle",
        );
        let theirs = loss(&theirs_y).backward().unwrap();
        let mut params = vec![(&xv, "dx"), (&wv, "dw")];
        if with_bias {
            params.push((&bv, "db"));
        }
        for (v, what) in params {
            let got = values(ours.get(v).unwrap());
            assert_close(&got, &values(theirs.get(v).unwrap()), 1e-12, what);
        }
        // Finite differences on a few weights (the loss is linear in each).
        let dw = values(ours.get(&wv).unwrap());
        let f = |w: &[f64]| {
            let y = linear(
                &tensor(&x, &[n, inputs]),
                &tensor(w, &[outputs, inputs]),
                None,
            );
            loss(&y.unwrap()).to_scalar::<f64>().unwrap()
        };
        for i in (0..w.len()).step_by(w.len().div_ceil(5)) {
            let (mut plus, mut minus) = (w.clone(), w.clone());
            plus[i] += 1e-3;
            minus[i] -= 1e-3;
            let numeric = (f(&plus) - f(&minus)) / 2e-3;
            assert!(
                (numeric - dw[i]).abs() < 1e-8,
                "dw[{i}] {numeric} vs {}",
                dw[i]
            );
        }
    }
    // f32, a non-contiguous input, and no gradient for a constant input.
    let x = Tensor::new(&[[1f32, 2.0, 3.0], [4.0, 5.0, 6.0]], &Device::Cpu).unwrap();
    let w = Var::new(&[[1f32, 0.0], [0.0, 1.0], [1.0, 1.0]], &Device::Cpu).unwrap();
    let y = linear(&x.t().unwrap(), &w, None).unwrap();
    assert_eq!(
        y.to_vec2::<f32>().unwrap(),
        vec![
            vec![1.0, 4.0, 5.0],
            vec![2.0, 5.0, 7.0],
            vec![3.0, 6.0, 9.0]
        ]
    );
    let g = y.sum_all().unwrap().backward().unwrap();
    assert_eq!(
        g.get(&w).unwrap().to_vec2::<f32>().unwrap(),
        vec![vec![6.0, 15.0], vec![6.0, 15.0], vec![6.0, 15.0]]
    );
    assert!(g.get(&x).is_none());
    // Mismatched shapes are errors, not panics.
    assert!(linear(&x, &w, None).is_err());
    let b = Tensor::zeros(2, DType::F32, &Device::Cpu).unwrap();
    assert!(linear(&x.t().unwrap(), &w, Some(&b)).is_err());
}

#[test]
fn zeros_are_zeros_at_every_length() {
    for len in [0, 1, 1000, (1 << 16) - 1, 1 << 16, (1 << 18) + 3] {
        let v: Vec<f32> = gemm::zeros(len);
        assert_eq!(v.len(), len);
        assert!(v.iter().all(|&x| x.to_bits() == 0), "length {len}");
        let v: Vec<f64> = gemm::zeros(len);
        assert!(v.len() == len && v.iter().all(|&x| x.to_bits() == 0));
    }
}

#[test]
fn scratch_buffers_are_kept_and_nested_calls_get_their_own() {
    let first = gemm::with_scratch::<f32, _>((3, 4), |a, b| {
        a.fill(1.0);
        b.fill(2.0);
        // A nested call on this thread must not alias the outer slices.
        gemm::with_scratch::<f32, _>((5, 2), |c, d| {
            c.fill(3.0);
            d.fill(4.0);
        });
        assert_eq!((&*a, &*b), (&[1.0; 3][..], &[2.0; 4][..]));
        a.as_ptr()
    });
    // The next call gets the kept buffer back, contents and all.
    gemm::with_scratch::<f32, _>((3, 4), |a, b| {
        assert_eq!(a.as_ptr(), first);
        assert_eq!((&*a, &*b), (&[1.0; 3][..], &[2.0; 4][..]));
    });
}
