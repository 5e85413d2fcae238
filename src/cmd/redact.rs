//! `callhook redact --before <WHEN>`: replaces the numbers, caller texts and names of old calls
//! with a keyed hash, so that the log keeps its figures (and repeat callers stay recognisable)
//! without the personal data.

use anyhow::{Context, Result, bail};
use hmac::{Hmac, KeyInit, Mac};
use rusqlite::Connection;
use rusqlite::functions::FunctionFlags;
use sha2::Sha256;

use crate::call::{now_ms, rfc3339};
use crate::cmd::prune::with_old_calls;
use crate::db;
use crate::paths::Locations;
use crate::query::{REDACTED_HEX_DIGITS, REDACTED_PREFIX as PREFIX, is_redacted};
use crate::when::{self, Bound};

#[derive(clap::Args)]
pub struct Args {
    /// Redact the calls that started before this (a day means its start): 2026-01-01, 90d
    #[arg(long, value_name = "WHEN")]
    before: String,
    /// Report what would be redacted, and change nothing
    #[arg(long)]
    dry_run: bool,
    /// Rewrite the file afterwards, so that no old text stays in space freed before (by the
    /// updates of calls and deliveries as they happened): slower, and needs free space for a
    /// copy of the database
    #[arg(long)]
    vacuum: bool,
}

pub fn run(locations: &Locations, args: Args) -> Result<()> {
    locations.require_config()?;
    let Some(key) = locations.config.privacy.redact_key.clone() else {
        bail!(
            "set [privacy] redact_key in {} first, and keep it secret: the same key gives the \
             same hash for the same number. A fresh one: redact_key = \"{}\"",
            locations.config_path.display(),
            fresh_key()
        );
    };
    let before = when::parse_local(&args.before, Bound::Start).map_err(anyhow::Error::msg)?;
    let Some(mut conn) = db::open_existing(&locations.db)? else {
        bail!("no database at {}", locations.db.display());
    };
    let vacuum = args.vacuum && !args.dry_run;
    let counts = redact(
        &mut conn,
        key.as_bytes(),
        before,
        now_ms(),
        args.dry_run,
        vacuum,
    )?;
    let verb = if args.dry_run {
        "Would redact"
    } else {
        "Redacted"
    };
    println!(
        "{verb} {} calls, {} events and {} deliveries from before {}.",
        counts.calls,
        counts.events,
        counts.deliveries,
        rfc3339(before)
    );
    if vacuum {
        println!("Vacuumed {}.", locations.db.display());
    }
    if !counts.wal_cleared && !args.dry_run {
        eprintln!(
            "Note: another program is reading the database, so its write-ahead log could not be \
             cleared; the old text is gone from the file once every program using it has closed \
             it."
        );
    }
    Ok(())
}

/// `redacted:` and 20 hex digits of HMAC-SHA256(key, text). Empty text, and text that is a
/// redacted value already (exactly that form), stay as they are; any other text is hashed,
/// even if it starts with `redacted:`: a caller chooses the text.
pub fn hash(key: &[u8], text: &str) -> String {
    if text.is_empty() || is_redacted(text) {
        return text.to_string();
    }
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key");
    mac.update(text.as_bytes());
    let digest = mac.finalize().into_bytes();
    let hex: String = digest
        .iter()
        .take(REDACTED_HEX_DIGITS / 2)
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("{PREFIX}{hex}")
}

fn fresh_key() -> String {
    uuid::Uuid::new_v4().simple().to_string() + &uuid::Uuid::new_v4().simple().to_string()
}

#[derive(Debug, Default)]
pub struct Redacted {
    pub calls: usize,
    pub events: usize,
    pub deliveries: usize,
    /// The write-ahead log was checkpointed and emptied (not so when another connection was
    /// reading).
    pub wal_cleared: bool,
}

/// Redacts, in one transaction, the old calls, their events (and events that joined no call),
/// and the bodies and popup URLs of their deliveries; pending ones are not sent any more.
///
/// The old text must not stay readable in the file: the transaction runs with
/// `secure_delete` (SQLite overwrites the space it frees with zeros, rather than leaving the
/// old cells there), and the write-ahead log is then checkpointed into the database and
/// truncated, so that the pages with the old text are overwritten and the log holds none.
/// Space freed before, while secure_delete was off (a call's row rewritten as its events came
/// in, a delivery's after each attempt), may still hold old fragments: `vacuum` rewrites the
/// whole file, before the checkpoint, so that none stay.
pub fn redact(
    conn: &mut Connection,
    key: &[u8],
    before: i64,
    now: i64,
    dry_run: bool,
    vacuum: bool,
) -> Result<Redacted> {
    let key = key.to_vec();
    conn.create_scalar_function(
        "redact",
        1,
        FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC,
        move |ctx| {
            let text: Option<String> = ctx.get(0)?;
            Ok(text.map(|t| hash(&key, &t)))
        },
    )?;
    conn.pragma_update(None, "secure_delete", true)?;
    let mut counts = with_old_calls(conn, before, now, dry_run, |tx| {
        let calls = tx.execute(
            "UPDATE calls SET number = redact(number), raw = redact(raw), name = redact(name) \
             WHERE id IN (SELECT id FROM old_calls) AND (number IS NOT redact(number) \
             OR raw IS NOT redact(raw) OR name IS NOT redact(name))",
            [],
        )?;
        let events = tx.execute(
            "UPDATE events SET caller = redact(caller), caller_bytes = NULL, \
             number = redact(number) \
             WHERE (call_id IN (SELECT id FROM old_calls) OR (call_id IS NULL AND at < ?1)) \
             AND (caller IS NOT redact(caller) OR caller_bytes IS NOT NULL \
             OR number IS NOT redact(number))",
            [before],
        )?;
        let deliveries = tx.execute(
            "UPDATE outbox SET body = NULL, \
             url = CASE kind WHEN 'popup' THEN 'redacted' ELSE url END, \
             last_error = CASE status WHEN 'pending' THEN 'redacted before delivery' \
                          ELSE last_error END, \
             status = CASE status WHEN 'pending' THEN 'skipped' ELSE status END \
             WHERE call_id IN (SELECT id FROM old_calls) \
             AND (body IS NOT NULL OR (kind = 'popup' AND url <> 'redacted'))",
            [],
        )?;
        tx.execute(
            "INSERT OR IGNORE INTO numbers (number, raw) \
             SELECT DISTINCT number, raw FROM calls WHERE id IN (SELECT id FROM old_calls)",
            [],
        )?;
        Ok(Redacted {
            calls,
            events,
            deliveries,
            wal_cleared: false,
        })
    })?;
    if vacuum && !dry_run {
        conn.execute_batch("VACUUM").context("VACUUM failed")?;
    }
    if !dry_run {
        // (busy, log frames, checkpointed frames): busy when a reader kept it from finishing.
        let busy: i64 = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| r.get(0))?;
        counts.wal_cleared = busy == 0;
    }
    Ok(counts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_keyed_stable_and_idempotent() {
        let a = hash(b"key one", "+4930123456");
        assert!(a.starts_with(PREFIX) && a.len() == PREFIX.len() + 20, "{a}");
        assert_eq!(a, hash(b"key one", "+4930123456"));
        assert_ne!(a, hash(b"key two", "+4930123456"));
        assert_eq!(hash(b"key one", &a), a);
        assert_eq!(hash(b"key one", ""), "");
    }

    #[test]
    fn text_that_only_looks_redacted_is_hashed() {
        for text in [
            "redacted:+15551234567",
            "redacted:",
            "redacted:0123456789abcdef012",
            "redacted:0123456789abcdef01234",
            "redacted:0123456789ABCDEF0123",
            "redacted:0123456789abcdef012x",
        ] {
            let hashed = hash(b"key one", text);
            assert!(is_redacted(&hashed), "{text:?} gave {hashed:?}");
            assert_ne!(hashed, text);
            assert!(!hashed.contains("5551234567"), "{hashed}");
        }
    }
}
