//! `forger gan audit`: can a GAN's images be shared? Each generated image
//! against the real images the GAN trained on, with real images it never
//! saw as the baseline (see `forger_train::audit`); also behind
//! `gan sample --exclude-near-copies`.

use std::path::{Path, PathBuf};

use clap::Args;
use forger_data::{Dataset, Splits};
use forger_train::atomic::{write_atomic, write_json};
use forger_train::audit::{audit, write_figures, Audit, AuditInputs, Proportion};
use forger_train::gan::{discriminator_scores, TrainedGan};
use forger_train::quality::{sample_subset, FeatureSpace};
use forger_train::RunDir;

use crate::gan_data::{gan_data, gan_side, sample};

#[derive(Args)]
pub struct GanAuditArgs {
    /// A run directory written by `forger gan train`.
    #[arg(long)]
    run: PathBuf,
    /// The data the GAN trained on (its training split); its test split is
    /// the held-out baseline, its validation split (when it has one) trains
    /// the feature space.
    #[arg(long)]
    real: PathBuf,
    /// Image side the real images are read at: the GAN's (the default),
    /// checked when given.
    #[arg(long, value_parser = crate::ranges::gan_side)]
    image_size: Option<usize>,
    /// Generated images to audit.
    #[arg(long, default_value_t = 1000)]
    n: usize,
    /// Seed of the generated images.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Where to write `audit.json`, `audit.md` and the figures (default: RUN/audit).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Closest pairs shown in the gallery.
    #[arg(long, default_value_t = 16)]
    pairs: usize,
    /// Run on the GPU (CUDA builds).
    #[arg(long)]
    cuda: bool,
}

pub fn run(args: GanAuditArgs) -> anyhow::Result<()> {
    let device = forger_train::device(args.cuda)?;
    let gan_run = RunDir::new(&args.run);
    let gan = TrainedGan::load(&gan_run, &device)?;
    let side = gan_side(&gan, &args.run, args.image_size)?;
    let images = sample(&gan, args.n, None, args.seed)?;
    let splits = real_data(&gan, &args.real, side)?;
    let out = args.out.clone().unwrap_or_else(|| args.run.join("audit"));
    let found = audit_images(&gan_run, &images, &splits, &out, &device)?;
    write_figures(
        &found,
        &images,
        &splits.train,
        &out.join("audit_distances.png"),
        &out.join("audit_gallery.png"),
        args.pairs,
    )?;
    write_json(&out.join("audit.json"), &found)?;
    let summary = summary(&found, &args.run, &args.real);
    write_atomic(&out.join("audit.md"), summary.as_bytes())?;
    print!("{summary}");
    println!("figures and audit.json in {}", out.display());
    Ok(())
}

/// The GAN's data, read as it trained on it (at `side`, the GAN's: see
/// [`gan_side`]), with the classes checked (and a warning when it is not
/// the data the GAN's run records).
pub fn real_data(gan: &TrainedGan, path: &Path, side: usize) -> anyhow::Result<Splits> {
    let recorded = Path::new(&gan.config.data);
    let same = |a: &Path, b: &Path| match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    };
    if !same(recorded, path) {
        tracing::warn!(
            "the GAN trained on {}, not {}: the audit is only meaningful against the GAN's own training data",
            recorded.display(),
            path.display()
        );
    }
    let channels = gan.config.train.gan.image[0];
    let splits = gan_data(path, side, channels == 3)?;
    if splits.train.classes().len() != gan.classes().len() {
        anyhow::bail!(
            "{}: the data has classes {:?}, the GAN {:?}; audit it against the data it trained on",
            path.display(),
            splits.train.classes(),
            gan.classes()
        );
    }
    if splits.test.len() < 2 {
        anyhow::bail!(
            "{}: the audit needs held-out real images the GAN never saw (a test split: `t10k-*` IDX files, the \
             npz's test arrays, or a `test_set/` folder); this data has none",
            path.display()
        );
    }
    Ok(splits)
}

/// Audits `images` from the GAN of `gan_run` against `splits.train`, the
/// test split held out; the feature space (trained on the validation split,
/// into `out/features`) is used when the data has one.
pub fn audit_images(
    gan_run: &RunDir,
    images: &Dataset,
    splits: &Splits,
    out: &Path,
    device: &candle_core::Device,
) -> anyhow::Result<Audit> {
    let (train, held_out, val) = (&splits.train, &splits.test, &splits.val);
    let space = if val.is_empty() {
        tracing::info!("no validation split: the audit compares pixels only");
        None
    } else {
        Some(FeatureSpace::train(
            val,
            val,
            &RunDir::new(out.join("features")),
            0,
            device,
        )?)
    };
    let m = train.len().min(held_out.len());
    let members = discriminator_scores(gan_run, &sample_subset(train, m, 0)?, device)?;
    let others = discriminator_scores(gan_run, &sample_subset(held_out, m, 0)?, device)?;
    Ok(audit(&AuditInputs {
        synthetic: images,
        train,
        held_out,
        features: space.as_ref(),
        membership: Some((&members, &others)),
    })?)
}

/// The audit in a few lines of Markdown.
fn summary(a: &Audit, run: &Path, real: &Path) -> String {
    let share = |p: &Proportion| {
        format!(
            "{} of {} ({:.1}%, 95% CI {:.1}-{:.1}%)",
            p.count,
            p.total,
            100.0 * p.share,
            100.0 * p.low,
            100.0 * p.high
        )
    };
    let mut s = format!(
        "# Memorisation audit of {}\n\n{} generated images against the {} training images of {}, with its {} test \
         images as the held-out baseline.\n\n",
        run.display(),
        a.synthetic_images,
        a.train_images,
        real.display(),
        a.held_out_images
    );
    s += &format!(
        "- near copies by pixel correlation: {}\n",
        share(&a.pixels.near_copies)
    );
    if let Some(f) = &a.features {
        s += &format!(
            "- near copies by feature distance: {}\n",
            share(&f.near_copies)
        );
    }
    s += &format!(
        "- flagged (either): {}; a fresh real image is flagged at {:.1}%\n",
        share(&a.flagged),
        100.0 * a.held_out_flagged.share
    );
    if let Some(m) = a.membership_auc {
        s += &format!(
            "- membership AUC (discriminator, training vs held-out images): {:.3} (95% CI {:.3}-{:.3}; 0.5 = cannot tell)\n",
            m.auc, m.low, m.high
        );
    }
    s
}
