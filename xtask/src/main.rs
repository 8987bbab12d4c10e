//! forger's task runner, run as `cargo xtask <task>`: experiments,
//! benchmarks and data downloads. Orchestration only: every capability is
//! a library call.

mod ablation;
mod batch_vs_online;
mod bench;
mod bench_memory;
mod cats_dogs;
mod experiment;
mod fuzz;
mod study;

use std::path::{Path, PathBuf};

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "cargo xtask",
    bin_name = "cargo xtask",
    about = "forger's experiments and benchmarks"
)]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Subcommand)]
enum Task {
    /// Run an experiment end to end (default: the main job).
    Experiment(Box<experiment::ExperimentArgs>),
    /// Measure training throughput against the PyTorch reference.
    Bench(bench::BenchArgs),
    /// Download a data set from the Hugging Face Hub into the data cache.
    Download(forger_hub::DownloadArgs),
    /// Fuzz the readers of hostile input (IDX, NPZ, images, checkpoints)
    /// for a bounded time; crashes are kept as tests.
    Fuzz(fuzz::FuzzArgs),
    /// One measured run of a memory benchmark (spawned by `bench`).
    #[command(hide = true)]
    MemoryChild(bench_memory::ChildArgs),
}

fn main() -> anyhow::Result<()> {
    forger_kernels::configure_cpu();
    forger_train::init_logging();
    match Cli::parse().task {
        Task::Experiment(args) => experiment::run(*args),
        Task::Bench(args) => bench::run(args),
        Task::Download(args) => {
            print!(
                "{}",
                args.run(workspace_root().join("data"), "cargo xtask download")?
            );
            Ok(())
        }
        Task::Fuzz(args) => fuzz::run(args),
        Task::MemoryChild(args) => bench_memory::child(args),
    }
}

/// The workspace root (xtask lives one level below it).
fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// A fresh numbered run directory `runs/<name>/NNN` under the workspace.
fn new_run_dir(name: &str) -> PathBuf {
    let base = workspace_root().join("runs").join(name);
    (1..)
        .map(|i| base.join(format!("{i:03}")))
        .find(|p| !p.exists())
        .unwrap_or(base)
}

/// The command line that started this process, as a user would type it.
fn invocation() -> String {
    let args: Vec<String> = std::env::args().skip(1).collect();
    format!("cargo xtask {}", args.join(" "))
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    fn undocumented(cmd: &clap::Command, path: &str, out: &mut Vec<String>) {
        for arg in cmd.get_arguments() {
            let builtin = matches!(arg.get_id().as_str(), "help" | "version");
            if !builtin && !arg.is_hide_set() && arg.get_help().is_none() {
                out.push(format!("{path} --{}", arg.get_id()));
            }
        }
        for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
            if sub.get_about().is_none() && sub.get_name() != "help" {
                out.push(format!("{path} {} (no about)", sub.get_name()));
            }
            undocumented(sub, &format!("{path} {}", sub.get_name()), out);
        }
    }

    #[test]
    fn every_flag_of_every_task_has_help_text() {
        let cmd = super::Cli::command();
        cmd.clone().debug_assert();
        let mut missing = Vec::new();
        undocumented(&cmd, "cargo xtask", &mut missing);
        assert!(missing.is_empty(), "flags without help: {missing:#?}");
    }

    #[test]
    fn experiment_takes_the_main_jobs_flags_without_a_name() {
        use clap::Parser;
        let cli = super::Cli::try_parse_from(["cargo xtask", "experiment", "--preset", "full"]);
        assert!(cli.is_ok(), "{:?}", cli.err().map(|e| e.to_string()));
        let usage = super::Cli::command().render_usage().to_string();
        assert!(usage.contains("cargo xtask"), "{usage}");
    }
}
