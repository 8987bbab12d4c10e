//! `forger`: train, evaluate and use image classifiers and GANs from the
//! command line. Each subcommand parses its arguments and calls one library
//! function; the capabilities live in the `forger-*` crates.

mod catdog;
mod classify;
mod gan;

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
    Train(classify::TrainCommand),
    /// Evaluate a trained classifier on a data set.
    Eval(classify::EvalArgs),
    /// Classify image files with a trained classifier.
    Predict(classify::PredictArgs),
    /// Write a grid of augmented training images, to see what the model sees.
    AugmentPreview(catdog::AugmentPreviewArgs),
    /// Train GANs and generate synthetic image sets.
    #[command(subcommand)]
    Gan(gan::GanCommand),
    /// Build the teaching site (case library and reader test) from a GAN run.
    Teach(gan::TeachArgs),
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
        Command::Train(cmd) => classify::train(cmd),
        Command::Eval(args) => classify::eval(args),
        Command::Predict(args) => classify::predict(args),
        Command::AugmentPreview(args) => catdog::augment_preview(args),
        Command::Gan(gan::GanCommand::Train(args)) => gan::train(args),
        Command::Gan(gan::GanCommand::Sample(args)) => gan::sample_command(args),
        Command::Teach(args) => gan::teach(args),
    }
}
