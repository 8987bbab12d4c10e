use candle_core::{DType, Device, Module, Tensor};
use candle_nn::VarMap;
use forger_models::*;
use forger_train::*;
use std::time::Instant;
fn main() -> anyhow::Result<()> {
    let dev = Device::Cpu;
    let vm = VarMap::new();
    let model = MnistCnnConfig::default().init(seeded_vars(
        &vm,
        forger_data::rng::derive(0, "i", 0),
        &dev,
    ))?;
    let x = Tensor::rand(0f32, 1., (64, 1, 28, 28), &dev)?;
    let y = Tensor::zeros(64, DType::U32, &dev)?;
    let mut opt = OptimizerConfig::adam(0.005).build(optim::named_vars(&vm))?;
    let n = 50;
    let t = Instant::now();
    for _ in 0..n {
        let _ = model.logits(&x, Mode::Eval)?;
    }
    println!("fwd {:?}", t.elapsed() / n);
    let t = Instant::now();
    for _ in 0..n {
        let l = LossKind::SoftmaxCrossEntropy.loss(&model.logits(&x, Mode::Eval)?, &y)?;
        let _g = l.backward()?;
    }
    println!("fwd+bwd {:?}", t.elapsed() / n);
    let t = Instant::now();
    for _ in 0..n {
        let l = LossKind::SoftmaxCrossEntropy.loss(&model.logits(&x, Mode::Eval)?, &y)?;
        opt.backward_step(&l)?;
    }
    println!("step {:?}", t.elapsed() / n);
    // pieces
    let c1 = layers::conv2d_same(
        1,
        4,
        4,
        seeded_vars(&vm, forger_data::rng::derive(0, "i", 1), &dev).pp("x"),
    )?;
    let t = Instant::now();
    for _ in 0..n {
        let _ = c1.forward(&x)?;
    }
    println!("conv1 fwd {:?}", t.elapsed() / n);
    let h = Tensor::rand(0f32, 1., (64, 4, 28, 28), &dev)?;
    let t = Instant::now();
    for _ in 0..n {
        let _ = layers::max_pool2d(&h, 2)?;
    }
    println!("pool fwd {:?}", t.elapsed() / n);
    let t = Instant::now();
    for _ in 0..n {
        let _ = h.max_pool2d(2)?;
    }
    println!("candle pool fwd {:?}", t.elapsed() / n);
    let t = Instant::now();
    for _ in 0..n {
        let _ = h.pad_with_zeros(2, 1, 2)?.pad_with_zeros(3, 1, 2)?;
    }
    println!("pad {:?}", t.elapsed() / n);
    Ok(())
}
