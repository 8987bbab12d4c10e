//! Adam and AdamW give the same bits on forger's CPU kernel and on Candle's
//! tensor ops (`forger_kernels::set_enabled(false)`). The switch is
//! process-wide, so this is the only test in its binary.

use candle_core::{Device, Tensor, Var};
use forger_train::{LrSchedule, Optimizer, OptimizerConfig};

/// 1,000 values in [-1, 1), the same every call.
fn start() -> Vec<f32> {
    (0..1000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) % 2000) as f32 / 1000.0 - 1.0)
        .collect()
}

/// Five steps on `sum((w - 0.3)^2 * c)` with a cosine schedule and
/// clipping, the kernels on or off; the final weights.
fn train(config: OptimizerConfig, kernels: bool) -> Vec<f32> {
    let w = Var::new(start(), &Device::Cpu).unwrap();
    let c = Tensor::new(start(), &Device::Cpu).unwrap().abs().unwrap();
    let mut opt: Optimizer = config
        .build(vec![("w".into(), w.clone())])
        .unwrap()
        .with_schedule(LrSchedule::Cosine {
            warmup_steps: 1,
            total_steps: 5,
            min_lr: 0.0,
        })
        .unwrap()
        .with_clip_grad_norm(1.0)
        .unwrap();
    for _ in 0..5 {
        let loss = w
            .as_tensor()
            .affine(1.0, -0.3)
            .unwrap()
            .sqr()
            .unwrap()
            .mul(&c)
            .unwrap()
            .sum_all()
            .unwrap();
        forger_kernels::set_enabled(kernels);
        opt.backward_step(&loss).unwrap();
        forger_kernels::set_enabled(true);
    }
    w.to_vec1::<f32>().unwrap()
}

#[test]
fn kernel_and_tensor_ops_agree_bit_for_bit() {
    for config in [
        OptimizerConfig::adam(0.05),
        OptimizerConfig::adamw(0.05, 0.1),
    ] {
        let (on, off) = (train(config, true), train(config, false));
        assert_ne!(on, start(), "{config:?} moved the weights");
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&on), bits(&off), "{config:?}");
    }
}
