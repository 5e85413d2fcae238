//! `callhook redact --before <WHEN>`: replaces the numbers, caller texts and names of old calls
//! with a keyed hash, so that the log keeps its figures (and repeat callers stay recognisable)
//! without the personal data.

use anyhow::{Result, bail};
use hmac::{Hmac, KeyInit, Mac};
use rusqlite::functions::FunctionFlags;
use rusqlite::{Connection, params_from_iter};
use sha2::Sha256;

use crate::cmd::retention::{self, Counts, Old, OldArgs, forget_numbers, numbers_of};
use crate::config::locations::Locations;
use crate::effects::outbox;
use crate::log::db::placeholders;
use crate::log::query::{REDACTED_HEX_DIGITS, REDACTED_PREFIX as PREFIX, is_redacted};

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    old: OldArgs,
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
    let (mut conn, old) = args.old.open(locations)?;
    let before = old.before;
    prepare(&conn, key.as_bytes())?;
    if args.old.dry_run {
        let counts = old.count(
            &conn,
            CALL_NOT_REDACTED,
            EVENT_NOT_REDACTED,
            outbox::NOT_REDACTED,
        )?;
        println!("{}", counts.report("Would redact", before));
        return Ok(());
    }
    let counts = redact(&mut conn, old)?;
    println!("{}", counts.report("Redacted", before));
    if args.vacuum {
        retention::vacuum(&mut conn, true)?;
        println!("Vacuumed {}.", locations.db.display());
    }
    if !retention::empty_wal(&mut conn)? {
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

/// What is not redacted yet, of a call (`c`) and an event (`e`).
const CALL_NOT_REDACTED: &str = "c.number IS NOT redact(c.number) OR c.raw IS NOT redact(c.raw) OR c.name IS NOT redact(c.name)";
const EVENT_NOT_REDACTED: &str = "e.caller IS NOT redact(e.caller) OR e.caller_bytes IS NOT NULL \
    OR e.number IS NOT redact(e.number)";

/// Gives the connection the `redact()` function (keyed) and turns `secure_delete` on: SQLite
/// then overwrites the space it frees with zeros, rather than leaving the old cells there.
fn prepare(conn: &Connection, key: &[u8]) -> Result<()> {
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
    Ok(())
}

/// Redacts the old calls, their events (and events that joined no call), and the bodies and
/// popup URLs of their deliveries (pending ones are not sent any more): a batch of calls per
/// turn of the writers' lock, so that hooks keep storing meanwhile. The old text must not stay
/// readable in the file: `secure_delete` zeroes what the updates free, and the caller then
/// empties the write-ahead log ([`retention::empty_wal`]). Space freed before, while
/// secure_delete was off (a call's row rewritten as its events came in, a delivery's after
/// each attempt), may still hold old fragments: a full vacuum rewrites the file without them.
pub fn redact(conn: &mut Connection, old: Old) -> Result<Counts> {
    let mut counts = Counts::default();
    old.calls(conn, |tx, ids| {
        let numbers = numbers_of(tx, ids)?;
        let list = placeholders(ids.len());
        let update = |sql: &str| tx.execute(sql, params_from_iter(ids));
        counts.calls += update(&format!(
            "UPDATE calls AS c SET number = redact(number), raw = redact(raw), \
             name = redact(name) WHERE id IN ({list}) AND ({CALL_NOT_REDACTED})"
        ))?;
        counts.events += update(&format!(
            "UPDATE events AS e SET caller = redact(caller), caller_bytes = NULL, \
             number = redact(number) WHERE call_id IN ({list}) AND ({EVENT_NOT_REDACTED})"
        ))?;
        counts.deliveries += outbox::redact(tx, ids)?;
        update(&format!(
            "INSERT OR IGNORE INTO numbers (number, raw) \
             SELECT DISTINCT number, raw FROM calls WHERE id IN ({list})"
        ))?;
        forget_numbers(tx, &numbers)
    })?;
    old.loose_events(conn, |tx, ids| {
        let list = placeholders(ids.len());
        counts.events += tx.execute(
            &format!(
                "UPDATE events AS e SET caller = redact(caller), caller_bytes = NULL, \
                 number = redact(number) WHERE id IN ({list}) AND ({EVENT_NOT_REDACTED})"
            ),
            params_from_iter(ids),
        )?;
        Ok(())
    })?;
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
