//! Times Candle's convolution and pooling ops at the shapes of W2 and W3.
//! Run with `RAYON_NUM_THREADS=2 cargo run --release -p forger-models --example conv_profile`.

use std::time::Instant;

use candle_core::{Device, Result, Tensor, Var};

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

struct Conv {
    name: &'static str,
    x: (usize, usize, usize, usize),
    w: (usize, usize, usize, usize),
    stride: usize,
    pad: usize,
    out_pad: Option<usize>,
}

fn main() -> Result<()> {
    let dev = Device::Cpu;
    let reps = 7;
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
    println!("threads {}", candle_core::utils::get_num_threads());
    println!(
        "{:<28} {:>9} {:>11} {:>11}",
        "op", "fwd ms", "dX ms", "dW ms"
    );
    for c in &cases {
        let x = Tensor::randn(0f32, 1., c.x, &dev)?;
        let w = Tensor::randn(0f32, 0.1, c.w, &dev)?;
        let (s, p) = (c.stride, c.pad);
        let fwd = |x: &Tensor, w: &Tensor| match c.out_pad {
            None => x.conv2d(w, p, s, 1, 1),
            Some(op) => x.conv_transpose2d(w, p, op, s, 1),
        };
        let y = fwd(&x, &w)?;
        let g = Tensor::randn(0f32, 1., y.shape(), &dev)?;
        let t_fwd = median_ms(reps, || fwd(&x, &w).map(|_| ()))?;
        // The calls Candle's backprop.rs makes for the two gradients.
        let (t_dx, t_dw) = match c.out_pad {
            None => {
                let out = (g.dim(2)? - 1) * s + c.w.2 - 2 * p;
                let op = c.x.2 - out;
                let dx = median_ms(reps, || g.conv_transpose2d(&w, p, op, s, 1).map(|_| ()))?;
                let dw = median_ms(reps, || {
                    x.transpose(0, 1)?
                        .conv2d(&g.transpose(0, 1)?, p, 1, s, 1)?
                        .transpose(0, 1)
                        .map(|_| ())
                })?;
                (dx, dw)
            }
            Some(_) => {
                let dx = median_ms(reps, || g.conv2d(&w, p, s, 1, 1).map(|_| ()))?;
                let dw = median_ms(reps, || {
                    g.transpose(0, 1)?
                        .conv2d(&x.transpose(0, 1)?, p, 1, s, 1)?
                        .transpose(0, 1)
                        .map(|_| ())
                })?;
                (dx, dw)
            }
        };
        println!(
            "{:<28} {:>9.2} {:>11.2} {:>11.2}",
            c.name, t_fwd, t_dx, t_dw
        );
    }
    for shape in [(32, 16, 64, 64), (32, 32, 32, 32), (32, 64, 16, 16)] {
        let x = Var::randn(0f32, 1., shape, &dev)?;
        let t_fwd = median_ms(reps, || {
            forger_models::layers::max_pool2d(&x, 2).map(|_| ())
        })?;
        let t_all = median_ms(reps, || {
            forger_models::layers::max_pool2d(&x, 2)?
                .sum_all()?
                .backward()
                .map(|_| ())
        })?;
        println!(
            "maxpool2 {:?}: fwd {:.2} ms, fwd+bwd {:.2} ms",
            shape, t_fwd, t_all
        );
    }
    Ok(())
}
