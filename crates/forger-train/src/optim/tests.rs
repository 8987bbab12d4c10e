//! The optimizers against hand computations of PyTorch's documented
//! formulas, and exact resume through state and checkpoints.

use super::*;
use candle_core::{DType, Device};

fn one_var(values: &[f32]) -> (Var, Vec<(String, Var)>) {
    let v = Var::new(values, &Device::Cpu).unwrap();
    (v.clone(), vec![("w".to_string(), v)])
}

/// `sum(w^2) / 2`, whose gradient is `w`.
fn half_square(w: &Var) -> Tensor {
    w.as_tensor()
        .sqr()
        .unwrap()
        .sum_all()
        .unwrap()
        .affine(0.5, 0.0)
        .unwrap()
}

fn values(w: &Var) -> Vec<f32> {
    w.to_vec1::<f32>().unwrap()
}

#[test]
fn optimizer_state_holds_no_graph_of_past_steps() {
    for config in [
        OptimizerConfig::adam(0.1),
        OptimizerConfig::adamw(0.1, 0.01),
        OptimizerConfig::Sgd {
            lr: 0.1,
            momentum: 0.9,
        },
    ] {
        let (w, params) = one_var(&[1.0, -2.0]);
        let mut opt = config.build(params).unwrap();
        // The gradient of w * x depends on x, which is itself computed
        // from w: Candle keeps such a gradient attached to the graph.
        let x = w.as_tensor().sqr().unwrap();
        opt.backward_step(&w.as_tensor().mul(&x).unwrap().sum_all().unwrap())
            .unwrap();
        let (state, _) = opt.state();
        assert!(state.values().all(|t| !t.track_op()), "{config:?}");
    }
}

#[test]
fn adam_first_steps_match_hand_computation() {
    let (w, params) = one_var(&[1.0, -2.0]);
    let mut opt = OptimizerConfig::adam(0.1).build(params).unwrap();
    opt.backward_step(&half_square(&w)).unwrap();
    // Step 1: m = 0.1 g, v = 0.001 g^2, mhat = g, vhat = g^2: w -= 0.1 * g / (|g| + 1e-8)
    let after1 = values(&w);
    assert!(
        (after1[0] - 0.9).abs() < 1e-6 && (after1[1] + 1.9).abs() < 1e-6,
        "{after1:?}"
    );
    opt.backward_step(&half_square(&w)).unwrap();
    // Step 2 by hand for w0: g1 = 1, g2 = 0.9.
    let (b1, b2) = (0.9f64, 0.999f64);
    let m = b1 * 0.1 * 1.0 + 0.1 * 0.9;
    let v = b2 * 0.001 * 1.0 + 0.001 * 0.81;
    let expected = 0.9 - 0.1 * (m / (1.0 - b1 * b1)) / ((v / (1.0 - b2 * b2)).sqrt() + 1e-8);
    let got = values(&w)[0] as f64;
    assert!((got - expected).abs() < 1e-6, "{got} vs {expected}");
}

/// Plain Adam gives the bits it gave before schedules, clipping and AdamW
/// existed (captured from that build).
#[test]
fn plain_adam_bits_are_unchanged() {
    let (w, params) = one_var(&[1.0, -2.0, 0.5, 3.0]);
    let mut opt = OptimizerConfig::adam(0.01).build(params).unwrap();
    for _ in 0..5 {
        let cube = w.as_tensor().powf(3.0).unwrap().sum_all().unwrap();
        opt.backward_step(&cube).unwrap();
    }
    let bits: Vec<u32> = values(&w).iter().map(|x| x.to_bits()).collect();
    assert_eq!(bits, PLAIN_ADAM_BITS);
}

const PLAIN_ADAM_BITS: [u32; 4] = [1064515974, 3221435359, 1055294054, 1077726538];

#[test]
fn adamw_first_steps_match_pytorch_formula() {
    let (lr, wd, b1, b2, eps) = (0.1f64, 0.5f64, 0.9f64, 0.999f64, 1e-8f64);
    let (w, params) = one_var(&[1.0, -2.0]);
    let mut opt = OptimizerConfig::adamw(lr, wd).build(params).unwrap();
    // torch.optim.AdamW, step by step for w0 (g = w).
    let w1 = 1.0 * (1.0 - lr * wd) - lr * 1.0 / (1.0 + eps);
    opt.backward_step(&half_square(&w)).unwrap();
    assert!((values(&w)[0] as f64 - w1).abs() < 1e-6, "{:?}", values(&w));
    // Step 1 by hand: decayed to 0.95, then 0.95 - 0.1 = 0.85.
    assert!((w1 - 0.85).abs() < 1e-7);
    opt.backward_step(&half_square(&w)).unwrap();
    let g = w1;
    let m = b1 * (1.0 - b1) * 1.0 + (1.0 - b1) * g;
    let v = b2 * (1.0 - b2) * 1.0 + (1.0 - b2) * g * g;
    let mhat = m / (1.0 - b1 * b1);
    let vhat = v / (1.0 - b2 * b2);
    let w2 = w1 * (1.0 - lr * wd) - lr * mhat / (vhat.sqrt() + eps);
    let got = values(&w)[0] as f64;
    assert!((got - w2).abs() < 1e-6, "{got} vs {w2}");
    // Without decay AdamW is Adam, bit for bit.
    let (a, pa) = one_var(&[1.0, -2.0]);
    let (b, pb) = one_var(&[1.0, -2.0]);
    let mut adam = OptimizerConfig::adam(lr).build(pa).unwrap();
    let mut adamw = OptimizerConfig::adamw(lr, 0.0).build(pb).unwrap();
    for _ in 0..3 {
        adam.backward_step(&half_square(&a)).unwrap();
        adamw.backward_step(&half_square(&b)).unwrap();
    }
    assert_eq!(values(&a), values(&b));
}

#[test]
fn sgd_momentum_matches_hand_computation() {
    let (w, params) = one_var(&[1.0]);
    let mut opt = OptimizerConfig::Sgd {
        lr: 0.5,
        momentum: 0.9,
    }
    .build(params)
    .unwrap();
    let loss = |w: &Var| w.as_tensor().sum_all().unwrap(); // g = 1
    opt.backward_step(&loss(&w)).unwrap();
    opt.backward_step(&loss(&w)).unwrap();
    // buf1 = 1, w = 0.5; buf2 = 1.9, w = 0.5 - 0.95
    assert!((values(&w)[0] + 0.45).abs() < 1e-6);
}

/// Plain SGD on `sum(w)` (gradient 1) under `schedule`: the rate of each
/// of `n` steps, as `lr()` reports it and as the step applies it.
fn scheduled_rates(schedule: LrSchedule, n: usize) -> Vec<f64> {
    let (w, params) = one_var(&[0.0]);
    let mut opt = OptimizerConfig::Sgd {
        lr: 0.1,
        momentum: 0.0,
    }
    .build(params)
    .unwrap()
    .with_schedule(schedule)
    .unwrap();
    (0..n)
        .map(|_| {
            let (before, lr) = (values(&w)[0] as f64, opt.lr());
            opt.backward_step(&w.as_tensor().sum_all().unwrap())
                .unwrap();
            let applied = before - values(&w)[0] as f64;
            assert!((applied - lr).abs() < 1e-7, "applied {applied}, lr() {lr}");
            lr
        })
        .collect()
}

fn assert_rates(got: &[f64], want: &[f64]) {
    assert_eq!(got.len(), want.len());
    for (k, (g, w)) in got.iter().zip(want).enumerate() {
        assert!((g - w).abs() < 1e-12, "step {k}: {g} vs {w} ({got:?})");
    }
}

#[test]
fn step_schedule_decays_every_step_size_steps() {
    let rates = scheduled_rates(
        LrSchedule::Step {
            step_size: 2,
            gamma: 0.5,
        },
        6,
    );
    assert_rates(&rates, &[0.1, 0.1, 0.05, 0.05, 0.025, 0.025]);
}

#[test]
fn cosine_schedule_warms_up_then_anneals_to_min_lr() {
    let rates = scheduled_rates(
        LrSchedule::Cosine {
            warmup_steps: 2,
            total_steps: 6,
            min_lr: 0.01,
        },
        9,
    );
    // Warm-up 0, 0.05; then 0.01 + 0.09 * (1 + cos(pi * j / 4)) / 2.
    let half = std::f64::consts::FRAC_1_SQRT_2;
    assert_rates(
        &rates,
        &[
            0.0,
            0.05,
            0.1,
            0.01 + 0.09 * (1.0 + half) / 2.0,
            0.055,
            0.01 + 0.09 * (1.0 - half) / 2.0,
            0.01,
            0.01,
            0.01,
        ],
    );
    assert!((rates[3] - 0.086_819_805).abs() < 1e-8);
}

/// The rates after feeding `metrics` one by one to a plateau schedule.
fn plateau_rates(schedule: LrSchedule, metrics: &[f64]) -> Vec<f64> {
    let (_, params) = one_var(&[0.0]);
    let mut opt = OptimizerConfig::adam(0.1)
        .build(params)
        .unwrap()
        .with_schedule(schedule)
        .unwrap();
    metrics
        .iter()
        .map(|&m| {
            opt.observe(m);
            opt.lr()
        })
        .collect()
}

#[test]
fn plateau_schedule_follows_reduce_lr_on_plateau() {
    let min = LrSchedule::Plateau {
        mode: PlateauMode::Min,
        factor: 0.5,
        patience: 1,
        threshold: 0.1,
        cooldown: 1,
        min_lr: 0.02,
    };
    // Traced by hand through PyTorch's `step`: 0.95 is no improvement on
    // 1.0 (needs < 0.9); the evaluation after a reduction is cooldown; the
    // last reduction would go below min_lr, which then holds.
    let metrics = [
        1.0, 0.95, 0.95, 0.99, 0.99, 0.99, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5,
    ];
    assert_rates(
        &plateau_rates(min, &metrics),
        &[
            0.1, 0.1, 0.05, 0.05, 0.05, 0.025, 0.025, 0.025, 0.02, 0.02, 0.02, 0.02,
        ],
    );
    let max = LrSchedule::Plateau {
        mode: PlateauMode::Max,
        factor: 0.1,
        patience: 1,
        threshold: 0.0,
        cooldown: 0,
        min_lr: 0.0,
    };
    // NaN is never an improvement.
    assert_rates(
        &plateau_rates(max, &[0.5, 0.6, 0.6, f64::NAN, 0.7, 0.7]),
        &[0.1, 0.1, 0.1, 0.01, 0.01, 0.01],
    );
    // Other schedules ignore metrics.
    let step = LrSchedule::Step {
        step_size: 1,
        gamma: 0.5,
    };
    assert_rates(&plateau_rates(step, &[1.0, 2.0, 3.0]), &[0.1, 0.1, 0.1]);
}

#[test]
fn bad_schedules_and_clip_norms_are_clear_errors() {
    let build = |schedule: LrSchedule| {
        let (_, params) = one_var(&[0.0]);
        OptimizerConfig::adam(0.1)
            .build(params)
            .unwrap()
            .with_schedule(schedule)
            .unwrap_err()
            .to_string()
    };
    let err = build(LrSchedule::Step {
        step_size: 0,
        gamma: 0.5,
    });
    assert!(err.contains("`step`") && err.contains("step_size"), "{err}");
    let err = build(LrSchedule::Cosine {
        warmup_steps: 10,
        total_steps: 10,
        min_lr: 0.0,
    });
    assert!(
        err.contains("total_steps (10) must exceed warmup_steps (10)"),
        "{err}"
    );
    let err = build(LrSchedule::Cosine {
        warmup_steps: 0,
        total_steps: 10,
        min_lr: 0.5,
    });
    assert!(err.contains("min_lr") && err.contains("0.5"), "{err}");
    let err = build(LrSchedule::Plateau {
        mode: PlateauMode::Min,
        factor: 1.0,
        patience: 0,
        threshold: 0.0,
        cooldown: 0,
        min_lr: 0.0,
    });
    assert!(err.contains("`plateau`") && err.contains("factor"), "{err}");
    for max_norm in [0.0, -1.0, f64::NAN, f64::INFINITY] {
        let (_, params) = one_var(&[0.0]);
        let err = OptimizerConfig::adam(0.1)
            .build(params)
            .unwrap()
            .with_clip_grad_norm(max_norm)
            .unwrap_err()
            .to_string();
        assert!(err.contains("max_norm"), "{err}");
    }
    let (_, params) = one_var(&[0.0]);
    let err = OptimizerConfig::adamw(0.1, -0.1)
        .build(params)
        .unwrap_err()
        .to_string();
    assert!(err.contains("weight_decay"), "{err}");
}

#[test]
fn clipping_scales_by_the_total_norm_as_clip_grad_norm() {
    let dev = Device::Cpu;
    let a = Var::new(&[1f32, 1.0], &dev).unwrap();
    let b = Var::new(&[1f32], &dev).unwrap();
    let params = vec![("a".to_string(), a.clone()), ("b".to_string(), b.clone())];
    // Gradients (3, 4) and (12): total norm 13.
    let loss = || {
        let ga = Tensor::new(&[3f32, 4.0], &dev).unwrap();
        let gb = Tensor::new(&[12f32], &dev).unwrap();
        (a.as_tensor().mul(&ga).unwrap().sum_all().unwrap()
            + b.as_tensor().mul(&gb).unwrap().sum_all().unwrap())
        .unwrap()
    };
    let sgd = OptimizerConfig::Sgd {
        lr: 1.0,
        momentum: 0.0,
    };
    let mut opt = sgd.build(params.clone()).unwrap();
    assert_eq!(opt.last_grad_norm(), None);
    opt.backward_step(&loss()).unwrap();
    assert_eq!(opt.last_grad_norm(), None, "only computed to clip");
    assert_eq!((values(&a), values(&b)), (vec![-2.0, -3.0], vec![-11.0]));

    for v in [&a, &b] {
        v.set(&v.ones_like().unwrap()).unwrap();
    }
    let mut opt = sgd
        .build(params.clone())
        .unwrap()
        .with_clip_grad_norm(6.5)
        .unwrap();
    opt.backward_step(&loss()).unwrap();
    assert_eq!(opt.last_grad_norm(), Some(13.0));
    let coef = 6.5 / (13.0 + 1e-6);
    let want = [1.0 - 3.0 * coef, 1.0 - 4.0 * coef, 1.0 - 12.0 * coef];
    let got: Vec<f64> = [values(&a), values(&b)]
        .concat()
        .iter()
        .map(|&x| x as f64)
        .collect();
    for (g, w) in got.iter().zip(want) {
        assert!((g - w).abs() < 1e-6, "{got:?} vs {want:?}");
    }

    // Below the limit the gradients are untouched.
    for v in [&a, &b] {
        v.set(&v.ones_like().unwrap()).unwrap();
    }
    let mut opt = sgd
        .build(params)
        .unwrap()
        .with_clip_grad_norm(20.0)
        .unwrap();
    opt.backward_step(&loss()).unwrap();
    assert_eq!((values(&a), values(&b)), (vec![-2.0, -3.0], vec![-11.0]));
}

/// An optimizer with `schedule` and clipping at 0.5 over a fresh `w`.
fn scheduled(config: OptimizerConfig, schedule: LrSchedule, w: &[f32]) -> (Var, Optimizer) {
    let (w, params) = one_var(w);
    let opt = config
        .build(params)
        .unwrap()
        .with_schedule(schedule)
        .unwrap()
        .with_clip_grad_norm(0.5)
        .unwrap();
    (w, opt)
}

/// A step on `sum(w^2) / 2`, then the loss observed as an evaluation's
/// metric.
fn step_and_observe(w: &Var, opt: &mut Optimizer) {
    let loss = half_square(w);
    opt.backward_step(&loss).unwrap();
    opt.observe(loss.to_scalar::<f32>().unwrap() as f64);
}

#[test]
fn every_schedule_with_clipping_resumes_bit_identically_from_a_checkpoint() {
    let schedules = [
        LrSchedule::Step {
            step_size: 3,
            gamma: 0.5,
        },
        LrSchedule::Cosine {
            warmup_steps: 2,
            total_steps: 7,
            min_lr: 0.001,
        },
        // A falling loss read as "max" is a plateau at every evaluation.
        LrSchedule::Plateau {
            mode: PlateauMode::Max,
            factor: 0.5,
            patience: 0,
            threshold: 0.0,
            cooldown: 1,
            min_lr: 0.0,
        },
    ];
    let dir = tempfile::tempdir().unwrap();
    for config in [OptimizerConfig::adam(0.1), OptimizerConfig::adamw(0.1, 0.1)] {
        for schedule in schedules {
            let start = [3.0, -1.0, 0.25];
            let (w1, mut a) = scheduled(config, schedule, &start);
            for _ in 0..4 {
                step_and_observe(&w1, &mut a);
            }
            let path = dir.path().join("resume.safetensors");
            crate::checkpoint::CheckpointWriter::new()
                .optimizer("optim", &a)
                .write(&path, &())
                .unwrap();
            let saved = crate::checkpoint::Checkpoint::read(&path, &Device::Cpu).unwrap();
            let (w2, mut b) = scheduled(config, schedule, &values(&w1));
            saved.restore_optimizer("optim", &mut b).unwrap();
            assert_eq!(b.steps(), 4);
            assert_eq!(a.lr().to_bits(), b.lr().to_bits(), "{schedule:?}");
            for _ in 0..4 {
                step_and_observe(&w1, &mut a);
                step_and_observe(&w2, &mut b);
                assert_eq!(a.lr().to_bits(), b.lr().to_bits(), "{schedule:?}");
                assert_eq!(a.last_grad_norm(), b.last_grad_norm());
            }
            assert_eq!(values(&w1), values(&w2), "{config:?} {schedule:?}");
            // The schedule and clipping mattered.
            assert_ne!(a.lr(), 0.1, "{schedule:?}");
            assert!(a.last_grad_norm().unwrap() > 0.5, "{schedule:?}");
        }
    }
}

#[test]
fn plateau_state_is_required_and_checked() {
    let plateau = LrSchedule::Plateau {
        mode: PlateauMode::Min,
        factor: 0.5,
        patience: 0,
        threshold: 0.0,
        cooldown: 0,
        min_lr: 0.0,
    };
    let (_, plain) = one_var(&[1.0]);
    let (state, steps) = OptimizerConfig::adam(0.1).build(plain).unwrap().state();
    let (_, params) = one_var(&[1.0]);
    let mut opt = OptimizerConfig::adam(0.1)
        .build(params)
        .unwrap()
        .with_schedule(plateau)
        .unwrap();
    let err = opt.load_state(&state, steps).unwrap_err().to_string();
    assert!(
        err.contains("schedule.plateau") && err.contains("missing"),
        "{err}"
    );
    let mut bad = state.clone();
    bad.insert(
        "schedule.plateau".into(),
        Tensor::new(&[1.0f64, 0.5, 0.0, 0.1], &Device::Cpu).unwrap(),
    );
    let err = opt.load_state(&bad, steps).unwrap_err().to_string();
    assert!(err.contains("bad evaluations must be a count"), "{err}");
    bad.insert(
        "schedule.plateau".into(),
        Tensor::zeros(3, DType::F64, &Device::Cpu).unwrap(),
    );
    let err = opt.load_state(&bad, steps).unwrap_err().to_string();
    assert!(err.contains("expected 4 values"), "{err}");
}

#[test]
fn state_round_trips_and_continues_identically() {
    let loss = |w: &Var| w.as_tensor().sqr().unwrap().sum_all().unwrap();
    let (w1, p1) = one_var(&[3.0, 1.0]);
    let mut a = OptimizerConfig::adam(0.05).build(p1).unwrap();
    for _ in 0..3 {
        a.backward_step(&loss(&w1)).unwrap();
    }
    let (state, steps) = a.state();
    let (w2, p2) = one_var(&values(&w1));
    let mut b = OptimizerConfig::adam(0.05).build(p2).unwrap();
    b.load_state(&state, steps).unwrap();
    a.backward_step(&loss(&w1)).unwrap();
    b.backward_step(&loss(&w2)).unwrap();
    assert_eq!(values(&w1), values(&w2));
    let mut missing = state.clone();
    missing.remove("slot1.w");
    assert!(b
        .load_state(&missing, 1)
        .unwrap_err()
        .to_string()
        .contains("slot1.w"));
}

#[test]
fn configs_keep_their_json() {
    // As runs wrote them before AdamW and schedules existed.
    for json in [
        r#"{"kind":"adam","lr":0.001,"beta1":0.9,"beta2":0.999,"eps":1e-8}"#,
        r#"{"kind":"sgd","lr":0.1,"momentum":0.9}"#,
    ] {
        let config: OptimizerConfig = serde_json::from_str(json).unwrap();
        assert_eq!(serde_json::to_string(&config).unwrap(), json);
    }
    let adamw = serde_json::to_string(&OptimizerConfig::adamw(0.001, 0.01)).unwrap();
    assert_eq!(
        adamw,
        r#"{"kind":"adamw","lr":0.001,"beta1":0.9,"beta2":0.999,"eps":1e-8,"weight_decay":0.01}"#
    );
    for json in [
        r#"{"kind":"step","step_size":100,"gamma":0.5}"#,
        r#"{"kind":"cosine","warmup_steps":10,"total_steps":1000,"min_lr":0.0}"#,
        r#"{"kind":"plateau","mode":"min","factor":0.1,"patience":10,"threshold":0.0001,"cooldown":0,"min_lr":0.0}"#,
    ] {
        let schedule: LrSchedule = serde_json::from_str(json).unwrap();
        assert_eq!(serde_json::to_string(&schedule).unwrap(), json);
    }
}
