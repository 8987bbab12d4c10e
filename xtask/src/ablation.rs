//! `cargo xtask experiment gan-ablation`: the study's GAN trained plain,
//! with DiffAugment, and with DiffAugment and LeCam, compared by
//! synthetic-only ROC AUC, Fréchet distance and KID.

use std::time::Instant;

use clap::Args;
use forger_lab::study::{run_ablation, Shard, Variant};
use forger_train::RunDir;

use crate::study::{resolve, Resolved, StudyArgs};

#[derive(Args)]
pub struct AblationArgs {
    /// The study whose GAN is ablated: its data, preset, budgets,
    /// replicates and schedules (`--shard` is not used).
    #[command(flatten)]
    study: StudyArgs,
    /// GAN variants, the first the one the others are compared with.
    #[arg(long, value_delimiter = ',', default_values_t = Variant::NAMES.map(String::from))]
    variants: Vec<String>,
}

pub fn run(args: AblationArgs) -> anyhow::Result<()> {
    if args.study.shard != Shard::ALL {
        anyhow::bail!("--shard: gan-ablation runs its whole plan; leave --shard out");
    }
    let variants = args
        .variants
        .iter()
        .map(|v| Variant::named(v).map_err(|e| anyhow::anyhow!("--variants: {e}")))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let Resolved {
        config,
        path,
        splits,
        out,
    } = resolve(&args.study, "gan-ablation")?;
    let device = forger_train::device(args.study.cuda)?;
    tracing::info!("gan-ablation: {} -> {}", path.display(), out.display());
    let started = Instant::now();
    let run = RunDir::new(&out);
    let report = run_ablation(
        &config,
        &variants,
        &splits,
        &run,
        &device,
        args.study.resume,
        &crate::invocation(),
    )?;
    println!(
        "synthetic-only ROC AUC on the real test set [95% bootstrap interval], FD, KID x 10^3"
    );
    for s in &report.summaries {
        println!(
            "{:>6.1}% {:<18} {:.4} [{:.3}, {:.3}]  FD {:.2}  KID {:.2}",
            s.real_fraction * 100.0,
            s.variant,
            s.mean_auc,
            s.interval.low,
            s.interval.high,
            s.frechet_mean,
            s.kid_mean * 1e3
        );
    }
    println!(
        "wall time {:.0} s; report {}",
        started.elapsed().as_secs_f64(),
        run.file("ablation.md").display()
    );
    Ok(())
}
