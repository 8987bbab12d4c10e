//! `forger`: train, evaluate and use image classifiers and GANs, and
//! download data sets, from the command line. Each subcommand parses its
//! arguments and calls one library function; the capabilities live in the
//! `forger-*` crates. `classify` holds `train mnist-cnn`; `eval` and
//! `predict` the commands that use a trained classifier; `model_summary`
//! `forger summary` (layers and parameters); `catdog` the cats-vs-dogs
//! tutorial's commands, `gan` the GAN and teaching-site ones, `teach` the reader study's, and
//! `summary` what both classifier trainings print at the end; `ranges`
//! checks the numeric flags.

mod audit;
mod catdog;
mod classify;
mod eval;
mod gan;
mod gan_data;
mod model_summary;
mod predict;
mod ranges;
mod run_args;
mod summary;
mod teach;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

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
    Eval(eval::EvalArgs),
    /// Classify image files with a trained classifier.
    Predict(predict::PredictArgs),
    /// Print a classifier's layers, output shapes and parameter counts.
    Summary(model_summary::SummaryArgs),
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
    forger_train::init_logging();
    match Cli::parse().command {
        Command::Train(TrainCommand::MnistCnn(args)) => classify::train(args),
        Command::Train(TrainCommand::CatdogCnn(args)) => catdog::train(args),
        Command::Eval(args) => eval::eval(args),
        Command::Predict(args) => predict::predict(args),
        Command::Summary(args) => model_summary::run(args),
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

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    /// Every flag and argument of every subcommand, with the path of
    /// subcommands that leads to it, where it has no help text.
    fn undocumented(cmd: &clap::Command, path: &str, out: &mut Vec<String>) {
        for arg in cmd.get_arguments() {
            let builtin = matches!(arg.get_id().as_str(), "help" | "version");
            if !builtin && arg.get_help().is_none() {
                out.push(format!("{path} --{}", arg.get_id()));
            }
        }
        for sub in cmd.get_subcommands() {
            if sub.get_about().is_none() && sub.get_name() != "help" {
                out.push(format!("{path} {} (no about)", sub.get_name()));
            }
            undocumented(sub, &format!("{path} {}", sub.get_name()), out);
        }
    }

    #[test]
    fn every_flag_of_every_command_has_help_text() {
        let cmd = super::Cli::command();
        cmd.clone().debug_assert();
        let mut missing = Vec::new();
        undocumented(&cmd, "forger", &mut missing);
        assert!(missing.is_empty(), "flags without help: {missing:#?}");
    }
}
