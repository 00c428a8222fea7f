//! The `purgehook` binary: parses the command line and runs the verb.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use purgehook::app::Role;
use purgehook::cmd::{self, action_args::ActionArgs, sign::SignFormat};
use purgehook::config::DEFAULT_CONFIG_PATH;

/// mimalloc instead of glibc's malloc: a webhook allocates and frees many
/// small values (headers, the parsed payload, jobs) across threads, where
/// glibc spent a quarter of `serve`'s CPU. Built without transparent huge
/// pages (`no_thp`), which doubled the resident memory of an idle process
/// (BENCHMARKS.md, "Ingest CPU and memory").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Signed webhooks in, exact cache purges out.
#[derive(Parser)]
#[command(name = "purgehook", version, about)]
struct Cli {
    /// The configuration file.
    #[arg(long, short, global = true, env = "PURGEHOOK_CONFIG", default_value = DEFAULT_CONFIG_PATH)]
    config: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the receiver and the workers in one process.
    Serve,
    /// Run only the HTTP receiver (amqp backend).
    Receiver,
    /// Run only the workers (amqp backend).
    Worker,
    /// Validate the configuration and print what it defines.
    Check,
    /// Dry run: show the event, matching rules and jobs for a payload file.
    Route {
        /// The source id.
        #[arg(long)]
        source: String,
        /// The event type (GitHub event, WooCommerce topic, WP Webhooks trigger,
        /// or where an hmac/token/contentful source's event template reads it).
        #[arg(long)]
        event: Option<String>,
        /// Extra header, 'Name: value' (repeatable).
        #[arg(short = 'H', long = "header")]
        headers: Vec<String>,
        /// The payload file.
        file: PathBuf,
    },
    /// Print the headers that make FILE a validly signed delivery.
    Sign {
        /// The source id.
        #[arg(long)]
        source: String,
        /// The event type (default: push; WooCommerce: product.updated;
        /// hmac and token sources: webhook), put where the sender puts it.
        #[arg(long)]
        event: Option<String>,
        /// Header lines, or a complete curl command.
        #[arg(long, value_enum, default_value = "headers")]
        format: SignFormat,
        /// The payload file.
        file: PathBuf,
    },
    /// Queue a purge by hand against the running deployment.
    Purge(PurgeCli),
    /// Print a fresh random secret (whsec_…), for a source or an API token.
    Secret,
    /// Exit 0 when the running process says it is ready (GET /readyz), 1 otherwise.
    Health {
        /// The readiness URL (default: /readyz on [server] listen).
        #[arg(long)]
        url: Option<String>,
    },
    /// List or replay the dead letters (jobs that failed for good).
    Dlq {
        #[command(subcommand)]
        command: DlqCommand,
    },
    /// Why was this purged? The purge history of a URL, event, job or target, newest first.
    History(HistoryCli),
}

#[derive(Args)]
#[command(group(clap::ArgGroup::new("subject").required(true).args(["url", "event", "job", "target"])))]
struct HistoryCli {
    /// A purged URL.
    #[arg(long)]
    url: Option<String>,
    /// An event id (a webhook's answer).
    #[arg(long)]
    event: Option<String>,
    /// A job id (a webhook's, `purge`'s or a dead letter's).
    #[arg(long)]
    job: Option<String>,
    /// A target id.
    #[arg(long)]
    target: Option<String>,
    /// Only this recent (`1h`, `30m`); default: the whole retention.
    #[arg(long)]
    since: Option<String>,
    /// As JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
struct PurgeCli {
    /// The target id (a [targets.<id>] of the configuration).
    #[arg(long)]
    target: String,
    #[command(flatten)]
    action: ActionArgs,
}

impl HistoryCli {
    fn run(&self, config: &std::path::Path) -> anyhow::Result<ExitCode> {
        let pairs = [
            ("url", &self.url),
            ("event", &self.event),
            ("job", &self.job),
            ("target", &self.target),
            ("since", &self.since),
        ];
        let pairs = pairs
            .iter()
            .filter_map(|(name, value)| Some((*name, value.as_deref()?)));
        cmd::history::run(config, pairs, self.json)
    }
}

#[derive(Subcommand)]
enum DlqCommand {
    /// Print the dead letters: id, target, action, attempts, time, reason.
    List {
        /// Only this target's.
        #[arg(long)]
        target: Option<String>,
        /// As JSON.
        #[arg(long)]
        json: bool,
    },
    /// Delete dead letters for good (one id, one target's, or --all).
    Delete {
        /// Only this target's.
        #[arg(long)]
        target: Option<String>,
        /// Only this dead letter (its id, or a job id it covers).
        #[arg(long)]
        id: Option<String>,
        /// Every dead letter.
        #[arg(long, conflicts_with_all = ["target", "id"])]
        all: bool,
    },
    /// Queue dead letters again (all, one target's, or one id).
    Replay {
        /// Only this target's.
        #[arg(long)]
        target: Option<String>,
        /// Only this dead letter.
        #[arg(long)]
        id: Option<String>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Serve => cmd::serve::run(&cli.config, Role::Serve),
        Command::Receiver => cmd::serve::run(&cli.config, Role::Receiver),
        Command::Worker => cmd::serve::run(&cli.config, Role::Worker),
        Command::Check => cmd::check::run(&cli.config),
        Command::Route {
            source,
            event,
            headers,
            file,
        } => cmd::route::run(
            &cli.config,
            cmd::route::RouteArgs {
                source,
                event: event.as_deref(),
                headers,
                file,
            },
        ),
        Command::Sign {
            source,
            event,
            format,
            file,
        } => cmd::sign::run(
            &cli.config,
            cmd::sign::SignArgs {
                source,
                event: event.as_deref(),
                format: *format,
                file,
            },
        ),
        Command::Purge(purge) => {
            cmd::purge::run(&cli.config, &purge.target, purge.action.0.clone())
        }
        Command::Health { url } => cmd::health::run(&cli.config, url.as_deref()),
        Command::Secret => {
            println!("{}", purgehook::secret::generate());
            Ok(ExitCode::SUCCESS)
        }
        Command::Dlq {
            command: DlqCommand::List { target, json },
        } => cmd::dlq::list(&cli.config, target.as_deref(), *json),
        Command::Dlq {
            command: DlqCommand::Delete { target, id, all },
        } => cmd::dlq::delete(&cli.config, target.as_deref(), id.as_deref(), *all),
        Command::Dlq {
            command: DlqCommand::Replay { target, id },
        } => cmd::dlq::replay(&cli.config, target.as_deref(), id.as_deref()),
        Command::History(history) => history.run(&cli.config),
    };
    result.unwrap_or_else(|error| {
        eprintln!("error: {error:#}");
        ExitCode::FAILURE
    })
}
