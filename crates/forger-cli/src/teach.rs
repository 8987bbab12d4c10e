//! `forger teach`: building the teaching site (`forger teach --gan ...`,
//! in `gan`), and the reader study on it: `teach serve` runs the study
//! server, `teach results` writes its statistics.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Subcommand};
use forger_readers::{write_results, ReaderServer, Store};

use crate::gan;

/// `forger teach`: the site-building flags, or a study subcommand.
#[derive(Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct TeachCommand {
    #[command(subcommand)]
    command: Option<StudyCommand>,
    #[command(flatten)]
    build: Option<gan::TeachArgs>,
}

#[derive(Subcommand)]
enum StudyCommand {
    /// Run a reader study on a built site: readers sign in, judge each case
    /// real or synthetic with a confidence, and their answers go to a
    /// SQLite database. Prints the reader and results URLs, then serves
    /// until stopped.
    Serve(ServeArgs),
    /// Write a study's results: answers.csv, summary.json and report.html.
    Results(ResultsArgs),
}

#[derive(Args)]
struct ServeArgs {
    /// The teaching site (written by `forger teach --out SITE`) whose reader-test cases readers judge.
    #[arg(long)]
    site: PathBuf,
    /// The study database (SQLite, created if missing); serving again on it
    /// continues the study, and every reader resumes where they stopped.
    #[arg(long)]
    db: PathBuf,
    /// Address to listen on. The default admits this machine only; use
    /// 0.0.0.0:8080 to let other devices on the network in.
    #[arg(long, default_value = "127.0.0.1:8080")]
    bind: SocketAddr,
}

#[derive(Args)]
struct ResultsArgs {
    /// The study database that `forger teach serve` wrote.
    #[arg(long)]
    db: PathBuf,
    /// Folder for answers.csv, summary.json and report.html (default: `DB-results` beside the database).
    #[arg(long)]
    out: Option<PathBuf>,
}

/// Runs `forger teach` as its arguments say.
pub fn run(command: TeachCommand) -> anyhow::Result<()> {
    match (command.command, command.build) {
        (Some(StudyCommand::Serve(args)), _) => serve(args),
        (Some(StudyCommand::Results(args)), _) => results(args),
        (None, Some(build)) => gan::teach(build),
        (None, None) => anyhow::bail!(
            "forger teach: pass --gan, --real and --out to build a site, or a subcommand (serve, results); see `forger teach --help`"
        ),
    }
}

fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let store = Store::open_for_site(&args.db, &args.site)?;
    let server =
        ReaderServer::bind(store, args.bind).with_context(|| format!("--bind {}", args.bind))?;
    if !args.bind.ip().is_loopback() {
        tracing::warn!(
            "listening on {}: readers on other devices use this machine's address; anyone who can reach it can take part",
            server.addr()
        );
    }
    println!("reader URL: {}", server.reader_url());
    println!("results URL: {}", server.results_url());
    std::io::stdout().flush()?;
    server.run()?;
    Ok(())
}

fn results(args: ResultsArgs) -> anyhow::Result<()> {
    if !args.db.is_file() {
        anyhow::bail!(
            "--db {}: no such study database (expected the file `forger teach serve --db` wrote)",
            args.db.display()
        );
    }
    let out = args.out.unwrap_or_else(|| {
        let mut name = args.db.file_stem().unwrap_or_default().to_os_string();
        name.push("-results");
        args.db.with_file_name(name)
    });
    let summary = write_results(&Store::open(&args.db)?, &out)?;
    let show = |x: Option<f64>| x.map_or_else(|| "-".to_string(), |x| format!("{x:.3}"));
    let o = &summary.overall;
    println!(
        "{} readers, {} answers: accuracy {} (p = {:.3}), pooled AUC {}, Fleiss' kappa {}",
        o.readers,
        o.scores.answered,
        show(o.scores.accuracy),
        o.scores.p_value,
        show(o.scores.auc),
        show(o.fleiss_kappa)
    );
    for r in &summary.readers {
        println!(
            "  {} ({}): {}/{} right, accuracy {} (p = {:.3}), AUC {}",
            r.reader,
            r.level.word(),
            r.scores.correct,
            r.scores.answered,
            show(r.scores.accuracy),
            r.scores.p_value,
            show(r.scores.auc)
        );
    }
    println!("results: {}", out.join("report.html").display());
    Ok(())
}
