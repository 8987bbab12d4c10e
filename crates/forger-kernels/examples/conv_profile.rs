//! Times convolution, transposed convolution and max-pooling at the shapes
//! of W2 and W3 (`shared/bench/WORKLOADS.md`), with Candle's ops and with
//! forger's kernels, forger's batch norm, LeakyReLU and dropout at W3's
//! shapes, and one forward+backward step of W1, W2 and W3-like networks
//! both ways. Run it with
//! `RAYON_NUM_THREADS=2 cargo run --release -p forger-kernels --example conv_profile`
//! (`-- --quick` for fewer repetitions, `-- --profile w2` to run one step
//! alone under `perf record`). Speed targets are checked by
//! `cargo xtask bench`; this is the per-op profile behind them.

use std::time::Instant;

use candle_core::{DType, Device, Module, Result, Tensor, Var};
use forger_kernels::{self as kernels, Padding};
use forger_models::layers::{
    conv2d_same, conv_transpose2d, linear, max_pool2d, ConvTranspose2dConfig,
};
use forger_models::{seeded_vars, ImageClassifier, MnistCnnConfig, Mode};
use rand::SeedableRng;
use rand_pcg::Pcg64;

/// Median wall time of `reps` calls after one warm-up, in ms.
fn median_ms(reps: usize, mut f: impl FnMut() -> Result<()>) -> Result<f64> {
    f()?;
    let mut t = Vec::with_capacity(reps);
    for _ in 0..reps {
        let s = Instant::now();
        f()?;
        t.push(s.elapsed().as_secs_f64() * 1e3);
    }
    t.sort_by(|a, b| a.total_cmp(b));
    Ok(t[reps / 2])
}

/// Times `f` with Candle's ops, then with forger's kernels.
fn both(reps: usize, mut f: impl FnMut() -> Result<()>) -> Result<(f64, f64)> {
    kernels::set_enabled(false);
    let candle = median_ms(reps, &mut f)?;
    kernels::set_enabled(true);
    let forger = median_ms(reps, &mut f)?;
    Ok((candle, forger))
}

struct Conv {
    name: &'static str,
    x: (usize, usize, usize, usize),
    w: (usize, usize, usize, usize),
    stride: usize,
    pad: usize,
    /// `Some(output_padding)` for a transposed convolution.
    out_pad: Option<usize>,
}

impl Conv {
    fn apply(&self, x: &Tensor, w: &Tensor) -> Result<Tensor> {
        match self.out_pad {
            None => kernels::conv2d(x, w, None, self.stride, Padding::uniform(self.pad)),
            Some(op) => kernels::conv_transpose2d(x, w, self.stride, self.pad, op),
        }
    }

    /// Candle's ops for the two gradients, as its backprop.rs calls them.
    fn candle_grads(&self, x: &Tensor, w: &Tensor, g: &Tensor, reps: usize) -> Result<(f64, f64)> {
        let (s, p) = (self.stride, self.pad);
        match self.out_pad {
            None => {
                let out = (g.dim(2)? - 1) * s + self.w.2 - 2 * p;
                let op = self.x.2 - out;
                let dx = median_ms(reps, || g.conv_transpose2d(w, p, op, s, 1).map(|_| ()))?;
                let dw = median_ms(reps, || {
                    x.transpose(0, 1)?
                        .conv2d(&g.transpose(0, 1)?, p, 1, s, 1)
                        .map(|_| ())
                })?;
                Ok((dx, dw))
            }
            Some(_) => {
                let dx = median_ms(reps, || g.conv2d(w, p, s, 1, 1).map(|_| ()))?;
                let dw = median_ms(reps, || {
                    g.transpose(0, 1)?
                        .conv2d(&x.transpose(0, 1)?, p, 1, s, 1)
                        .map(|_| ())
                })?;
                Ok((dx, dw))
            }
        }
    }
}

fn ops(reps: usize) -> Result<()> {
    let dev = Device::Cpu;
    let cases = [
        Conv {
            name: "W2 conv1 3->16 64x64",
            x: (32, 3, 64, 64),
            w: (16, 3, 3, 3),
            stride: 1,
            pad: 1,
            out_pad: None,
        },
        Conv {
            name: "W2 conv2 16->32 32x32",
            x: (32, 16, 32, 32),
            w: (32, 16, 3, 3),
            stride: 1,
            pad: 1,
            out_pad: None,
        },
        Conv {
            name: "W2 conv3 32->64 16x16",
            x: (32, 32, 16, 16),
            w: (64, 32, 3, 3),
            stride: 1,
            pad: 1,
            out_pad: None,
        },
        Conv {
            name: "W3 D conv1 1->64 28->14",
            x: (128, 1, 28, 28),
            w: (64, 1, 5, 5),
            stride: 2,
            pad: 2,
            out_pad: None,
        },
        Conv {
            name: "W3 D conv2 64->128 14->7",
            x: (128, 64, 14, 14),
            w: (128, 64, 5, 5),
            stride: 2,
            pad: 2,
            out_pad: None,
        },
        Conv {
            name: "W3 G convT 256->128 7->7",
            x: (64, 256, 7, 7),
            w: (256, 128, 5, 5),
            stride: 1,
            pad: 2,
            out_pad: Some(0),
        },
        Conv {
            name: "W3 G convT 128->64 7->14",
            x: (64, 128, 7, 7),
            w: (128, 64, 5, 5),
            stride: 2,
            pad: 2,
            out_pad: Some(1),
        },
        Conv {
            name: "W3 G convT 64->1 14->28",
            x: (64, 64, 14, 14),
            w: (64, 1, 5, 5),
            stride: 2,
            pad: 2,
            out_pad: Some(1),
        },
    ];
    println!("Where Candle's time goes (ms): its forward and the two ops its backprop runs");
    println!(
        "{:<26} {:>8} {:>8} {:>8}",
        "op (batch first)", "fwd", "dX", "dW"
    );
    for c in &cases {
        let x = Tensor::randn(0f32, 1., c.x, &dev)?;
        let w = Tensor::randn(0f32, 0.1, c.w, &dev)?;
        kernels::set_enabled(false);
        let g = Tensor::randn(0f32, 1., c.apply(&x, &w)?.shape(), &dev)?;
        let fwd = median_ms(reps, || c.apply(&x, &w).map(|_| ()))?;
        let (dx, dw) = c.candle_grads(&x, &w, &g, reps)?;
        println!("{:<26} {fwd:>8.2} {dx:>8.2} {dw:>8.2}", c.name);
    }
    kernels::set_enabled(true);

    println!("\nCandle (C) vs forger (f), ms. bwd = backward of sum(y * r) for x and w; bwd(w) with x a constant, as for a first layer.");
    println!("loss = sum(y * r) and its backward alone on a leaf y of the output's shape: a part of both fwd+bwd columns");
    let pair = |(a, b): (f64, f64)| format!("{a:.1} / {b:.1}");
    println!(
        "{:<26} {:>15} {:>15} {:>17} {:>7}",
        "op (batch first)", "fwd C / f", "fwd+bwd C / f", "fwd+bwd(w) C / f", "loss"
    );
    for c in &cases {
        let x = Var::randn(0f32, 1., c.x, &dev)?;
        let w = Var::randn(0f32, 0.1, c.w, &dev)?;
        let xc = x.as_tensor().detach();
        let r = Tensor::randn(0f32, 1., c.apply(&x, &w)?.shape(), &dev)?;
        let fwd = both(reps, || c.apply(&x, &w).map(|_| ()))?;
        let all = both(reps, || {
            c.apply(&x, &w)?.mul(&r)?.sum_all()?.backward().map(|_| ())
        })?;
        let w_only = both(reps, || {
            c.apply(&xc, &w)?.mul(&r)?.sum_all()?.backward().map(|_| ())
        })?;
        let loss = loss_ms(&r, reps)?;
        println!(
            "{:<26} {:>15} {:>15} {:>17} {loss:>7.1}",
            c.name,
            pair(fwd),
            pair(all),
            pair(w_only)
        );
    }
    for shape in [(32, 16, 64, 64), (32, 32, 32, 32), (32, 64, 16, 16)] {
        let x = Var::randn(0f32, 1., shape, &dev)?;
        let r = Tensor::randn(0f32, 1., (shape.0, shape.1, shape.2 / 2, shape.3 / 2), &dev)?;
        let fwd = both(reps, || max_pool2d(&x, 2).map(|_| ()))?;
        let all = both(reps, || {
            max_pool2d(&x, 2)?
                .mul(&r)?
                .sum_all()?
                .backward()
                .map(|_| ())
        })?;
        let loss = loss_ms(&r, reps)?;
        let name = format!("max-pool 2 {}x{}x{}", shape.1, shape.2, shape.3);
        println!(
            "{name:<26} {:>15} {:>15} {:>17} {loss:>7.1}",
            pair(fwd),
            pair(all),
            ""
        );
    }
    Ok(())
}

/// Batch norm with LeakyReLU, LeakyReLU alone and dropout at the shapes of
/// W3's generator and discriminator: memory-bound passes, where a branch
/// mispredicted on the sign of half the values or a serial allocation
/// shows at once.
fn elementwise(reps: usize) -> Result<()> {
    let dev = Device::Cpu;
    println!("\nElementwise ops, forger's kernels (ms); bwd columns include the loss");
    println!(
        "{:<22} {:>8} {:>8} {:>8} {:>8} {:>8} {:>7}",
        "shape", "bn fwd", "bn +bwd", "lrelu", "+bwd", "dropout", "loss"
    );
    let shapes: [&[usize]; 5] = [
        &[64, 12544],
        &[64, 128, 7, 7],
        &[64, 64, 14, 14],
        &[128, 64, 14, 14],
        &[128, 128, 7, 7],
    ];
    for shape in shapes {
        let x = Var::randn(0f32, 1., shape, &dev)?;
        let c = shape[1];
        let (gamma, beta) = (
            Var::ones(c, DType::F32, &dev)?,
            Var::zeros(c, DType::F32, &dev)?,
        );
        let r = Tensor::randn(0f32, 1., shape, &dev)?;
        let bn = || -> Result<Tensor> {
            let out = kernels::batch_norm_train(&x, &gamma, &beta, 1e-5, Some(0.2))?;
            Ok(out
                .map(|(y, _)| y)
                .expect("the kernels run on the CPU in f32"))
        };
        let bn_fwd = median_ms(reps, || bn().map(|_| ()))?;
        let bn_all = median_ms(reps, || bn()?.mul(&r)?.sum_all()?.backward().map(|_| ()))?;
        let lrelu = median_ms(reps, || kernels::leaky_relu(&x, 0.2).map(|_| ()))?;
        let lrelu_all = median_ms(reps, || {
            kernels::leaky_relu(&x, 0.2)?
                .mul(&r)?
                .sum_all()?
                .backward()
                .map(|_| ())
        })?;
        let dropout = median_ms(reps, || kernels::dropout(&x, 0.3, 7).map(|_| ()))?;
        let loss = loss_ms(&r, reps)?;
        println!(
            "{:<22} {bn_fwd:>8.2} {bn_all:>8.2} {lrelu:>8.2} {lrelu_all:>8.2} {dropout:>8.2} {loss:>7.2}",
            format!("{shape:?}")
        );
    }
    Ok(())
}

/// The benchmark's own loss, `sum(y * r)` and its backward, on a leaf `y`.
fn loss_ms(r: &Tensor, reps: usize) -> Result<f64> {
    let y = Var::randn(0f32, 1., r.shape(), r.device())?;
    median_ms(reps, || y.mul(r)?.sum_all()?.backward().map(|_| ()))
}

fn leaky_relu(x: &Tensor) -> Result<Tensor> {
    x.maximum(&(x * 0.2)?)
}

/// Numerically stable binary cross entropy on logits, averaged.
fn bce_logits(logits: &Tensor, target: &Tensor) -> Result<Tensor> {
    let loss = (logits.relu()? - (logits * target)?)?
        + logits.abs()?.neg()?.exp()?.affine(1.0, 1.0)?.log()?;
    loss?.mean_all()
}

/// One forward+backward of W1 (MnistCnn, batch 64, cross entropy).
fn w1_step(vb_seed: u64, dev: &Device) -> Result<impl FnMut() -> Result<()>> {
    let vm = candle_nn::VarMap::new();
    let model = MnistCnnConfig::default()
        .init(seeded_vars(&vm, Pcg64::seed_from_u64(vb_seed), dev))
        .map_err(candle_core::Error::wrap)?;
    let x = Tensor::rand(0f32, 1., (64, 1, 28, 28), dev)?;
    let y = Tensor::from_vec((0..64u32).map(|i| i % 10).collect(), 64, dev)?;
    Ok(move || {
        let logits = model.logits(&x, Mode::Eval)?;
        candle_nn::loss::cross_entropy(&logits, &y)?
            .backward()
            .map(|_| ())
    })
}

/// One forward+backward of W2's network without dropout (batch 32).
fn w2_step(seed: u64, dev: &Device) -> Result<impl FnMut() -> Result<()>> {
    let vm = candle_nn::VarMap::new();
    let vb = seeded_vars(&vm, Pcg64::seed_from_u64(seed), dev);
    let convs = [
        conv2d_same(3, 16, 3, vb.pp("c1"))?,
        conv2d_same(16, 32, 3, vb.pp("c2"))?,
        conv2d_same(32, 64, 3, vb.pp("c3"))?,
    ];
    let dense = [
        linear(4096, 512, vb.pp("d1"))?,
        linear(512, 256, vb.pp("d2"))?,
        linear(256, 2, vb.pp("d3"))?,
    ];
    let x = Tensor::rand(0f32, 1., (32, 3, 64, 64), dev)?;
    let target = Tensor::rand(0f32, 1., (32, 2), dev)?.round()?;
    Ok(move || {
        let mut h = x.clone();
        for c in &convs {
            h = max_pool2d(&c.forward(&h)?.relu()?, 2)?;
        }
        let h = dense[1]
            .forward(&dense[0].forward(&h.flatten_from(1)?)?.relu()?)?
            .relu()?;
        bce_logits(&dense[2].forward(&h)?, &target)?
            .backward()
            .map(|_| ())
    })
}

/// One D step and one G step of W3's DCGAN without batch norm and dropout
/// (64 real + 64 fake), forward+backward only.
fn w3_step(seed: u64, dev: &Device) -> Result<impl FnMut() -> Result<()>> {
    let vm = candle_nn::VarMap::new();
    let vb = seeded_vars(&vm, Pcg64::seed_from_u64(seed), dev);
    let fc = candle_nn::Linear::new(vb.get((12544, 100), "g.fc")?, None);
    let cfg = |stride, output_padding| ConvTranspose2dConfig {
        stride,
        padding: 2,
        output_padding,
    };
    let t1 = conv_transpose2d(256, 128, 5, cfg(1, 0), false, vb.pp("g.t1"))?;
    let t2 = conv_transpose2d(128, 64, 5, cfg(2, 1), false, vb.pp("g.t2"))?;
    let t3 = conv_transpose2d(64, 1, 5, cfg(2, 1), false, vb.pp("g.t3"))?;
    let dw1 = (vb.get((64, 1, 5, 5), "d.c1.w")?, vb.get(64, "d.c1.b")?);
    let dw2 = (vb.get((128, 64, 5, 5), "d.c2.w")?, vb.get(128, "d.c2.b")?);
    let dfc = linear(6272, 1, vb.pp("d.fc"))?;
    let real = Tensor::rand(-1f32, 1., (64, 1, 28, 28), dev)?;
    let z = Tensor::randn(0f32, 1., (64, 100), dev)?;
    let labels = Tensor::cat(
        &[
            Tensor::ones((64, 1), DType::F32, dev)?,
            Tensor::zeros((64, 1), DType::F32, dev)?,
        ],
        0,
    )?;
    let ones = Tensor::ones((64, 1), DType::F32, dev)?;
    Ok(move || {
        let g = leaky_relu(&fc.forward(&z)?)?.reshape((64, 256, 7, 7))?;
        let g = leaky_relu(&t1.forward(&g)?)?;
        let g = leaky_relu(&t2.forward(&g)?)?;
        let fake = t3.forward(&g)?.tanh()?;
        let d = |x: &Tensor| -> Result<Tensor> {
            let h = leaky_relu(&kernels::conv2d(
                x,
                &dw1.0,
                Some(&dw1.1),
                2,
                Padding::uniform(2),
            )?)?;
            let h = leaky_relu(&kernels::conv2d(
                &h,
                &dw2.0,
                Some(&dw2.1),
                2,
                Padding::uniform(2),
            )?)?;
            dfc.forward(&h.flatten_from(1)?)
        };
        let both = Tensor::cat(&[&real, &fake.detach()], 0)?;
        bce_logits(&d(&both)?, &labels)?.backward()?;
        bce_logits(&d(&fake)?, &ones)?.backward().map(|_| ())
    })
}

fn main() -> Result<()> {
    // The process settings forger's binaries use.
    kernels::configure_cpu();
    let args: Vec<String> = std::env::args().collect();
    // `--profile w1|w2|w3`: only run that step with forger's kernels, 30
    // times, for `perf record`.
    if let Some(i) = args.iter().position(|a| a == "--profile") {
        let dev = Device::Cpu;
        let mut step: Box<dyn FnMut() -> Result<()>> = match args.get(i + 1).map(String::as_str) {
            Some("w1") => Box::new(w1_step(0, &dev)?),
            Some("w2") => Box::new(w2_step(0, &dev)?),
            Some("w3") => Box::new(w3_step(0, &dev)?),
            other => candle_core::bail!("--profile takes w1, w2 or w3, got {other:?}"),
        };
        let ms = median_ms(30, &mut step)?;
        println!("median step {ms:.1} ms");
        return Ok(());
    }
    let quick = args.iter().any(|a| a == "--quick");
    let reps = if quick { 3 } else { 7 };
    println!(
        "threads {}, median of {reps} after one warm-up",
        candle_core::utils::get_num_threads()
    );
    ops(reps)?;
    elementwise(reps * 3)?;
    let dev = Device::Cpu;
    println!("\nForward+backward step (ms), Candle / forger");
    let mut w1 = w1_step(0, &dev)?;
    let (c, f) = both(reps * 3, &mut w1)?;
    println!(
        "{:<40} {c:>8.1} / {f:.1}  ({:.2}x)",
        "W1 mnist_cnn, batch 64",
        c / f
    );
    let mut w2 = w2_step(0, &dev)?;
    let (c, f) = both(reps, &mut w2)?;
    println!(
        "{:<40} {c:>8.1} / {f:.1}  ({:.2}x)",
        "W2 catdog_cnn (no dropout), batch 32",
        c / f
    );
    let mut w3 = w3_step(0, &dev)?;
    let (c, f) = both(reps, &mut w3)?;
    println!(
        "{:<40} {c:>8.1} / {f:.1}  ({:.2}x)",
        "W3 dcgan28 D+G (no BN/dropout), 64+64",
        c / f
    );
    Ok(())
}
