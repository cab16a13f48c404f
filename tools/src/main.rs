//! `hashvive-ipc-trace`: dump, stats, plot and follow for `-ipctrace` files.

use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use hashvive_tools::dump::{self, DumpError, Style};
use hashvive_tools::filter::{Filter, FilterArgs};
use hashvive_tools::reader::Merged;
use hashvive_tools::stats::Stats;
use hashvive_tools::{follow, plot, synth};

/// Reads the binary IPC traces written by `-ipctrace=<file>`.
#[derive(Parser)]
#[command(
    name = "hashvive-ipc-trace",
    version,
    about = "Reads the binary IPC traces written by -ipctrace=<file>: dump, stats, plot, follow"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// One line per frame, in time order across all files.
    Dump {
        /// Trace files (e.g. ipc.trace and ipc.trace.wallet-<pid>).
        #[arg(required = true)]
        files: Vec<PathBuf>,
        #[command(flatten)]
        filter: FilterArgs,
        /// Wall-clock times (UTC) instead of time since the trace start.
        #[arg(long)]
        wall: bool,
        /// JSON lines instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Calls, errors, latency percentiles and bytes per Interface.method.
    Stats {
        /// Trace files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// One JSON document instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Latency histogram and latency-over-time scatter as SVG.
    Plot {
        /// Trace files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Output SVG file.
        #[arg(short, long)]
        output: PathBuf,
        #[command(flatten)]
        filter: FilterArgs,
        /// Without --method: plot the N series with the most responses.
        #[arg(long, default_value_t = 6)]
        top: usize,
    },
    /// Print records as they are appended to traces still being written (like tail -f).
    Follow {
        /// Trace files; ones that do not exist yet are waited for.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        #[command(flatten)]
        filter: FilterArgs,
        /// Print the records already in the files first.
        #[arg(long)]
        from_start: bool,
        /// Wall-clock times (UTC) instead of time since the trace start.
        #[arg(long)]
        wall: bool,
        /// JSON lines instead of text.
        #[arg(long)]
        json: bool,
        /// How often to look for new records, in ms.
        #[arg(long, default_value_t = 100)]
        interval_ms: u64,
        /// Also follow the FILE.wallet-<pid> traces of spawned wallets as they appear.
        #[arg(long)]
        wallets: bool,
    },
    /// Write a synthetic trace of N records (for measuring the read rate).
    #[command(hide = true)]
    Synth {
        /// Output file.
        output: PathBuf,
        /// Number of records.
        #[arg(long, default_value_t = 10_000_000)]
        records: u64,
    },
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::BrokenPipe) => ExitCode::SUCCESS,
        Err(Failure::Message(m)) => {
            eprintln!("hashvive-ipc-trace: error: {m}");
            ExitCode::FAILURE
        }
    }
}

enum Failure {
    BrokenPipe,
    Message(String),
}

impl From<String> for Failure {
    fn from(m: String) -> Self {
        Failure::Message(m)
    }
}

impl From<io::Error> for Failure {
    fn from(e: io::Error) -> Self {
        if e.kind() == io::ErrorKind::BrokenPipe {
            Failure::BrokenPipe
        } else {
            Failure::Message(format!("writing output: {e}"))
        }
    }
}

impl From<hashvive_tools::reader::TraceError> for Failure {
    fn from(e: hashvive_tools::reader::TraceError) -> Self {
        Failure::Message(e.to_string())
    }
}

impl From<DumpError> for Failure {
    fn from(e: DumpError) -> Self {
        match e {
            DumpError::Trace(e) => e.into(),
            DumpError::Output(e) => e.into(),
        }
    }
}

fn warn_all(warnings: impl IntoIterator<Item = String>) {
    for w in warnings {
        eprintln!("{w}");
    }
}

fn run(cli: Cli) -> Result<(), Failure> {
    let stdout = io::stdout();
    let mut out = io::BufWriter::with_capacity(1 << 16, stdout.lock());
    match cli.command {
        Command::Dump {
            files,
            filter,
            wall,
            json,
        } => {
            let mut filter = Filter::new(&filter)?;
            let mut merged = Merged::open(&files)?;
            dump::dump(&mut merged, &mut filter, Style { wall, json }, &mut out)?;
            warn_all(merged.warnings());
        }
        Command::Stats { files, json } => {
            let stats = Stats::collect(&files)?;
            if json {
                writeln!(out, "{:#}", stats.to_json())?;
            } else {
                stats.write_table(&mut out)?;
            }
            out.flush()?;
            warn_all(stats.files.iter().filter_map(|f| f.warning.clone()));
        }
        Command::Plot {
            files,
            output,
            filter,
            top,
        } => {
            let mut filter = Filter::new(&filter)?;
            let warnings = plot::plot(&files, &output, &mut filter, top)?;
            warn_all(warnings);
        }
        Command::Follow {
            files,
            filter,
            from_start,
            wall,
            json,
            interval_ms,
            wallets,
        } => {
            let mut filter = Filter::new(&filter)?;
            let options = follow::Options {
                from_start,
                style: Style { wall, json },
                interval: std::time::Duration::from_millis(interval_ms.max(1)),
                wallets,
            };
            follow::follow(&files, &mut filter, &options, &mut out)?;
        }
        Command::Synth { output, records } => {
            synth::write_synthetic(&output, records)
                .map_err(|e| format!("{}: {e}", output.display()))?;
        }
    }
    Ok(())
}
