//! `forger`: train, evaluate and use image classifiers and GANs, and
//! download data sets, from the command line. Each subcommand parses its
//! arguments and calls one library function; the capabilities live in the
//! `forger-*` crates. `classify` holds the MNIST-style subcommands, `catdog`
//! the cats-vs-dogs tutorial's, `gan` the GAN and teaching-site ones, `teach` the reader study's, and
//! `summary` what both classifier trainings print at the end; `ranges`
//! checks the numeric flags.

mod audit;
mod catdog;
mod classify;
mod gan;
mod gan_data;
mod ranges;
mod summary;
mod teach;

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

#[derive(Parser)]
#[command(
    name = "forger",
    version,
    about = "Train image classifiers and GANs on Candle, on CPU or CUDA"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Train a classifier.
    #[command(subcommand)]
    Train(TrainCommand),
    /// Evaluate a trained classifier on a data set.
    Eval(classify::EvalArgs),
    /// Classify image files with a trained classifier.
    Predict(classify::PredictArgs),
    /// Write a grid of augmented training images, to see what the model sees.
    AugmentPreview(catdog::AugmentPreviewArgs),
    /// Train GANs and generate synthetic image sets.
    #[command(subcommand)]
    Gan(gan::GanCommand),
    /// Build the teaching site (case library and reader test) from a GAN run,
    /// or run a reader study on it (`teach serve`, `teach results`).
    Teach(teach::TeachCommand),
    /// Download a data set from the Hugging Face Hub into the data cache.
    Download(forger_hub::DownloadArgs),
}

#[derive(Subcommand)]
enum TrainCommand {
    /// The MNIST tutorial's CNN (two 4x4 SAME convolutions, 392 -> classes).
    MnistCnn(classify::MnistCnnArgs),
    /// The cats-vs-dogs tutorial's CNN on a class-per-folder image tree, with
    /// Keras-style augmentation.
    CatdogCnn(catdog::CatDogCnnArgs),
}

fn main() -> anyhow::Result<()> {
    forger_kernels::configure_cpu();
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_target(false)
        .init();
    match Cli::parse().command {
        Command::Train(TrainCommand::MnistCnn(args)) => classify::train(args),
        Command::Train(TrainCommand::CatdogCnn(args)) => catdog::train(args),
        Command::Eval(args) => classify::eval(args),
        Command::Predict(args) => classify::predict(args),
        Command::AugmentPreview(args) => catdog::augment_preview(args),
        Command::Gan(gan::GanCommand::Train(args)) => gan::train(args),
        Command::Gan(gan::GanCommand::Sample(args)) => gan::sample_command(args),
        Command::Gan(gan::GanCommand::Audit(args)) => audit::run(args),
        Command::Teach(command) => teach::run(command),
        Command::Download(args) => {
            // Without a workspace, the default cache is `data/` here.
            print!("{}", args.run(PathBuf::from("data"), "forger download")?);
            Ok(())
        }
    }
}
