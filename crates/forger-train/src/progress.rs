//! Progress on long work: a bar on a terminal, plain log lines otherwise;
//! and the binaries' one logging set-up, [`init_logging`].

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressStyle};

/// Reports progress of `total` units of work.
pub struct Progress {
    bar: Option<ProgressBar>,
}

impl Progress {
    /// A bar when stderr is a terminal; otherwise only log lines.
    pub fn new(total: u64, what: &str) -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::new(total);
            let style =
                ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} {msg} ({eta})")
                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                    .progress_chars("=> ");
            bar.set_style(style);
            bar.set_prefix(what.to_string());
            bar
        });
        Self { bar }
    }

    /// Moves to `position`.
    pub fn set(&self, position: u64) {
        if let Some(bar) = &self.bar {
            bar.set_position(position);
        }
    }

    /// A status line, logged (above the bar on a terminal, where it stays
    /// after the bar is gone) and shown as the bar's message.
    pub fn report(&self, line: &str) {
        match &self.bar {
            Some(bar) => {
                bar.suspend(|| tracing::info!("{line}"));
                bar.set_message(line.to_string());
            }
            None => tracing::info!("{line}"),
        }
    }

    /// Removes the bar.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

/// Logs through `tracing` to stderr at `RUST_LOG`'s level (`info` by
/// default), with colours only when stderr is a terminal: piped or
/// redirected output gets plain lines. Both `forger` and `cargo xtask` call
/// this first.
pub fn init_logging() {
    use tracing_subscriber::EnvFilter;
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .init();
}
