//! `callhook replay`: stores the events of the fallback logs now (the worker does it by
//! itself as soon as the database takes events again).

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Result, bail};

use crate::config::locations::Locations;
use crate::effects::drain::{Drain, Drained, LEASE_MS};
use crate::effects::lease::{self, Lane};
use crate::log::call::now_ms;
use crate::log::db;
use crate::log::fallback;
use crate::report::output::{plural, terminal_safe};

#[derive(clap::Args)]
pub struct Args {
    /// A fallback log to store the events of (read, left as it is) [default: the one next to
    /// the database, and the temp directory's]
    #[arg(long, value_name = "PATH")]
    log: Option<PathBuf>,
}

/// How long replay waits for a worker that is draining the logs already.
const WAIT_FOR_WORKER: Duration = Duration::from_secs(30);

pub fn run(locations: &Locations, args: Args) -> Result<()> {
    locations.require_config()?;
    let logs = fallback::logs_for(Some(&locations.db));
    let mut conn = locations.open_db()?;
    let holder = format!("replay {}", std::process::id());
    // One drain at a time: a worker draining now has the lane. Replay's lease is renewed at
    // each turn; should replay be killed, a worker takes the lane over after it lapses.
    let until = std::time::Instant::now() + WAIT_FOR_WORKER;
    while !db::write(&mut conn, |tx| {
        let now = now_ms();
        lease::acquire(tx, Lane::Fallback, &holder, now + LEASE_MS, now)
    })? {
        if std::time::Instant::now() >= until {
            bail!("a worker is storing the fallback log's events now: run replay again later");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let mut drain = Drain::new(&locations.db, &locations.config, &holder);
    let mut done = Drained::default();
    let result = (|| -> Result<()> {
        if let Some(file) = &args.log {
            // A copy: the file given stays as it is.
            drain.adopt(&mut conn, file)?;
        }
        // The file given, or the logs; and whatever earlier drains left unfinished.
        let claim = args.log.is_none();
        loop {
            let pass = drain.pass(&mut conn, &logs, claim)?;
            let again = pass.again_in;
            done.add(pass);
            match again {
                // Lines a hook may still be writing are read once more before the end.
                Some(wait) => std::thread::sleep(wait.max(Duration::from_millis(1))),
                None => return Ok(()),
            }
        }
    })();
    db::write(&mut conn, |tx| lease::give_up(tx, Lane::Fallback, &holder))?;
    result?;
    if done.stored > 0 && locations.config.has_side_effects() {
        // Their webhooks and popups: delivered in the background, as a hook's are.
        let _ = crate::effects::spawn::worker(locations);
    }
    // The report comes after the work, and a closed output cannot undo any of it.
    let shown = match &args.log {
        Some(file) => vec![file.clone()],
        None => logs,
    };
    let _ = report(&mut std::io::stdout().lock(), &done, &shown);
    if done.errors.is_empty() {
        Ok(())
    } else {
        bail!(
            "some files could not be drained now (later drains take them up again): {}",
            done.errors.join("; ")
        )
    }
}

fn report(out: &mut impl Write, done: &Drained, logs: &[PathBuf]) -> std::io::Result<()> {
    let shown: Vec<String> = logs.iter().map(|l| l.display().to_string()).collect();
    if done.stored + done.present + done.other + done.rejected == 0 {
        return writeln!(
            out,
            "Nothing to replay: no events waiting in {}.",
            terminal_safe(&shown.join(" or "))
        );
    }
    writeln!(
        out,
        "Stored {} from the fallback log; {} in the database already.",
        plural(done.stored, "event", "events"),
        plural(done.present, "was", "were")
    )?;
    if done.other > 0 {
        writeln!(
            out,
            "{} for another database stay in the log for it.",
            plural(done.other, "event", "events")
        )?;
    }
    if done.rejected > 0 {
        let files: Vec<String> = done
            .rejected_files
            .iter()
            .map(|f| f.display().to_string())
            .collect();
        writeln!(
            out,
            "{} cannot be stored, kept in {}:",
            plural(done.rejected, "line", "lines"),
            terminal_safe(&files.join(", "))
        )?;
        for why in &done.reasons {
            writeln!(out, "  {}", terminal_safe(why))?;
        }
    }
    Ok(())
}
