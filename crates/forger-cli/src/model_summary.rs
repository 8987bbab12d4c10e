//! `forger summary`: a classifier's layers, output shapes and parameter
//! counts, like Keras' `model.summary()`.

use std::path::PathBuf;

use clap::Args;
use forger_models::ClassifierConfig;

#[derive(Args)]
pub struct SummaryArgs {
    /// A run folder written by `forger train`, or its `config.json`.
    #[arg(value_name = "RUN_OR_CONFIG")]
    run: PathBuf,
}

pub fn run(args: SummaryArgs) -> anyhow::Result<()> {
    println!(
        "{}",
        forger_train::run_summary::<ClassifierConfig>(&args.run)?
    );
    Ok(())
}
