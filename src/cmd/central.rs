//! `callhook central`: the desks of a central server (run where central runs: it needs
//! `[central] database`). A desk's key is printed once, when the desk is added; central keeps
//! only its public half.

use std::io::Write;

use anyhow::{Context, Result, anyhow, bail};
use comfy_table::Cell;

use crate::central::db::{self, Central, block_on};
use crate::central::desks;
use crate::config::locations::Locations;
use crate::report::output::{self, caller_safe, local_time};

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Subcommand)]
enum Command {
    /// Adds a desk: prints its key (this once) and the config block for that desk
    AddDesk {
        /// The desk's name, as central shows it (FRONTDESK-1)
        name: String,
        /// Central's address as the desk reaches it (default: [central] url, else [serve]
        /// listen)
        #[arg(long)]
        url: Option<url::Url>,
    },
    /// Revokes a desk's key: its deliveries are refused from now on; its calls stay
    RemoveDesk { name: String },
    /// The desks: last contact, what they still have to send, their calls
    Desks {
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum Format {
    Table,
    Json,
}

pub fn run(locations: &Locations, args: Args) -> Result<()> {
    locations.require_config()?;
    let central = connect(locations)?;
    match args.command {
        Command::AddDesk { name, url } => add(locations, &central, &name, url),
        Command::RemoveDesk { name } => {
            if !block_on(desks::remove(&central, &name))? {
                bail!("central has no desk `{}` (with a key)", caller_safe(&name));
            }
            println!(
                "Desk `{}` removed: central refuses its deliveries from now on; its calls stay.",
                caller_safe(&name)
            );
            Ok(())
        }
        Command::Desks { format } => list(&central, format),
    }
}

/// Central's database, as `[central] database` names it.
pub fn connect(locations: &Locations) -> Result<Central> {
    let file = locations.config_path.display();
    let url = locations
        .config
        .central
        .database
        .as_deref()
        .ok_or_else(|| {
            anyhow!("{file}: [central] database is not set: this is not a central server")
        })?;
    block_on(db::connect(url)).with_context(|| format!("{file}: [central] database"))
}

fn add(locations: &Locations, central: &Central, name: &str, url: Option<url::Url>) -> Result<()> {
    let url = url
        .or_else(|| locations.config.central.url.clone())
        .map(|u| u.to_string())
        .unwrap_or_else(|| listen_url(locations));
    let key = block_on(desks::add(central, name))?;
    let quote = |text: &str| toml::Value::String(text.to_string()).to_string();
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "Desk `{}` added. Its key is shown this once: central keeps only its public half.\n\
         Put this into that desk's callhook config, then run `callhook doctor` there:\n",
        caller_safe(name)
    )?;
    writeln!(out, "[central]")?;
    writeln!(out, "url = {}", quote(url.trim_end_matches('/')))?;
    writeln!(out, "desk = {}", quote(name))?;
    writeln!(out, "key = {}", quote(key.secret_text()))?;
    Ok(())
}

/// Central's address from its own `[serve]`: what a desk on the network would use.
fn listen_url(locations: &Locations) -> String {
    let serve = &locations.config.serve;
    let scheme = if serve.tls().is_some() {
        "https"
    } else {
        "http"
    };
    let host = match serve.hosts.first() {
        Some(name) => name.clone(),
        None if serve.listen.ip().is_unspecified() => crate::platform::host_name(),
        None => serve.listen.ip().to_string(),
    };
    format!("{scheme}://{host}:{}", serve.listen.port())
}

fn list(central: &Central, format: Format) -> Result<()> {
    let desks = block_on(desks::list(central))?;
    let mut out = std::io::stdout().lock();
    if let Format::Json = format {
        serde_json::to_writer_pretty(&mut out, &desks)?;
        writeln!(out)?;
        return Ok(());
    }
    if desks.is_empty() {
        writeln!(
            out,
            "No desks: add one with `callhook central add-desk NAME`."
        )?;
        return Ok(());
    }
    let mut table = output::table([
        "Desk",
        "Key",
        "Last contact",
        "Waiting",
        "Backfill",
        "Calls",
        "Clock",
    ]);
    for d in &desks {
        let when = |ms: Option<i64>| ms.map(local_time).unwrap_or_else(|| "never".into());
        table.add_row([
            Cell::new(caller_safe(&d.name)),
            Cell::new(if d.revoked_at.is_some() {
                "revoked"
            } else {
                "active"
            }),
            Cell::new(when(d.last_contact_ms)),
            Cell::new(d.last_backlog.map(|n| n.to_string()).unwrap_or_default()),
            Cell::new(if d.backfilled { "done" } else { "" }),
            Cell::new(d.calls),
            Cell::new(d.clock_skew_ms.map(skew).unwrap_or_default()),
        ]);
    }
    writeln!(out, "{table}")?;
    Ok(())
}

/// A desk's clock against central's, as people say it.
fn skew(ms: i64) -> String {
    match ms {
        -2_000..=2_000 => "ok".into(),
        ms if ms > 0 => format!("{} behind", output::duration(ms)),
        ms => format!("{} ahead", output::duration(-ms)),
    }
}
