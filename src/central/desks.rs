//! The desks central takes calls from: each added by name with a new key pair (central keeps
//! the public half), known by that key when it sends, and revoked when removed.

use anyhow::{Result, bail};
use serde::Serialize;
use tokio_postgres::error::SqlState;

use crate::central::db::Central;
use crate::effects::central::key::{DeskKey, PUBLIC_PREFIX};
use crate::log::call::{now_ms, rfc3339};

/// The longest desk name, in characters.
pub const MAX_NAME_CHARS: usize = 64;

/// A desk that may send: found by its key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Desk {
    pub id: i32,
    pub name: String,
}

/// What a public key is at central.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeyLookup {
    Active(Desk),
    /// The key of a removed desk, by its name.
    Revoked(String),
    Unknown,
}

/// A desk as `desks list` shows it.
#[derive(Clone, Debug, Serialize)]
pub struct DeskStatus {
    pub name: String,
    /// The public key, `whpk_…`, as the desk's config has its secret half.
    pub key: String,
    pub created_at: String,
    pub revoked_at: Option<String>,
    pub last_contact_at: Option<String>,
    /// The changes the desk still had to send after its last batch.
    pub last_backlog: Option<i64>,
    /// Whether the desk has sent its log from before it joined.
    pub backfilled: bool,
    /// The desk's own name for itself (`[central] desk`).
    pub reported_name: Option<String>,
    /// How far the desk's clock was behind central's at its last batch (transit included).
    pub clock_skew_ms: Option<i64>,
    /// The calls and events central holds of the desk.
    pub calls: i64,
    pub events: i64,
    #[serde(skip)]
    pub last_contact_ms: Option<i64>,
}

/// Adds a desk named `name` with a new key; returns the key, whose secret half goes into the
/// desk's config and is stored nowhere else. A desk of that name whose key was revoked gets
/// the new key and stays the same desk, with its calls: a new key for a desk whose key was
/// lost or leaked, or that moved to another computer.
pub async fn add(c: &Central, name: &str) -> Result<DeskKey> {
    let name = check_name(name)?;
    let key = DeskKey::generate()?;
    let public = key.public_key();
    let mut client = c.client().await?;
    let tx = client.transaction().await?;
    let renewed = tx
        .execute(
            "UPDATE desks SET public_key = $2, revoked_at = NULL WHERE id = (SELECT id FROM \
             desks WHERE name = $1 AND revoked_at IS NOT NULL ORDER BY id DESC LIMIT 1) \
             AND NOT EXISTS (SELECT 1 FROM desks WHERE name = $1 AND revoked_at IS NULL)",
            &[&name, &public.as_slice()],
        )
        .await?;
    let added = match renewed {
        0 => {
            tx.execute(
                "INSERT INTO desks (name, public_key, created_at) VALUES ($1, $2, $3)",
                &[&name, &public.as_slice(), &now_ms()],
            )
            .await
        }
        n => Ok(n),
    };
    match added {
        Ok(_) => {
            tx.commit().await?;
            Ok(key)
        }
        Err(e) if e.code() == Some(&SqlState::UNIQUE_VIOLATION) => {
            bail!("there is a desk named `{name}` already: remove it first, or choose another name")
        }
        Err(e) => Err(e.into()),
    }
}

/// The name, trimmed, or why it cannot be a desk's.
fn check_name(name: &str) -> Result<&str> {
    let name = name.trim();
    if name.is_empty() {
        bail!("a desk needs a name");
    }
    if name.chars().any(char::is_control) {
        bail!("a desk's name cannot hold control characters (line breaks, tabs, escapes)");
    }
    if name.chars().count() > MAX_NAME_CHARS {
        bail!("a desk's name has at most {MAX_NAME_CHARS} characters");
    }
    Ok(name)
}

/// Revokes the desk named `name`: its key is refused from now on, and its calls stay. False
/// when no desk has that name.
pub async fn remove(c: &Central, name: &str) -> Result<bool> {
    let client = c.client().await?;
    let revoked = client
        .execute(
            "UPDATE desks SET revoked_at = $2 WHERE name = $1 AND revoked_at IS NULL",
            &[&name.trim(), &now_ms()],
        )
        .await?;
    Ok(revoked > 0)
}

/// The desk whose public key this is.
pub async fn by_key(c: &Central, public: &[u8; 32]) -> Result<KeyLookup> {
    let client = c.client().await?;
    let row = client
        .query_opt(
            "SELECT id, name, revoked_at IS NOT NULL FROM desks WHERE public_key = $1",
            &[&public.as_slice()],
        )
        .await?;
    Ok(match row {
        None => KeyLookup::Unknown,
        Some(row) if row.get::<_, bool>(2) => KeyLookup::Revoked(row.get(1)),
        Some(row) => KeyLookup::Active(Desk {
            id: row.get(0),
            name: row.get(1),
        }),
    })
}

/// Every desk, the active ones first, by name.
pub async fn list(c: &Central) -> Result<Vec<DeskStatus>> {
    let client = c.client().await?;
    let rows = client
        .query(
            "SELECT name, public_key, created_at, revoked_at, last_contact_at, last_backlog, \
             backfilled, reported_name, clock_skew_ms, calls_held, events_held FROM desks \
             ORDER BY revoked_at IS NOT NULL, name, created_at",
            &[],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| {
            let key: &[u8] = r.get(1);
            let last_contact_ms: Option<i64> = r.get(4);
            DeskStatus {
                name: r.get(0),
                key: public_text(key),
                created_at: rfc3339(r.get(2)),
                revoked_at: r.get::<_, Option<i64>>(3).map(rfc3339),
                last_contact_at: last_contact_ms.map(rfc3339),
                last_backlog: r.get(5),
                backfilled: r.get(6),
                reported_name: r.get(7),
                clock_skew_ms: r.get(8),
                calls: r.get(9),
                events: r.get(10),
                last_contact_ms,
            }
        })
        .collect())
}

fn public_text(key: &[u8]) -> String {
    use base64::Engine as _;
    format!(
        "{PUBLIC_PREFIX}{}",
        base64::engine::general_purpose::STANDARD.encode(key)
    )
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use crate::central::db::block_on;
    use crate::central::testing;

    #[test]
    fn desks_are_added_found_by_key_listed_and_revoked() {
        let db = testing::database();
        block_on(async {
            let c = db.connect().await;
            let front = add(&c, " front desk ").await.unwrap();
            let back = add(&c, "back office").await.unwrap();
            assert_ne!(front.public_key(), back.public_key());

            let KeyLookup::Active(desk) = by_key(&c, &front.public_key()).await.unwrap() else {
                panic!("front desk is active");
            };
            assert_eq!(desk.name, "front desk");
            assert_eq!(by_key(&c, &[7; 32]).await.unwrap(), KeyLookup::Unknown);
            let mut log = testing::DeskLog::new("front-pc");
            log.incoming(1_795_600_800_000, "+49 30 1234567", None);
            let batch = testing::batch(log.states(1));
            crate::central::ingest::apply(&c, &desk, &batch, 1_795_600_900_000)
                .await
                .unwrap();

            // Names are unique among the active desks; removing frees the name.
            let e = add(&c, "front desk").await.unwrap_err();
            assert!(
                e.to_string().contains("there is a desk named `front desk`"),
                "{e}"
            );
            assert!(remove(&c, "front desk").await.unwrap());
            assert!(!remove(&c, "front desk").await.unwrap(), "removed already");
            assert!(!remove(&c, "nobody").await.unwrap());
            assert_eq!(
                by_key(&c, &front.public_key()).await.unwrap(),
                KeyLookup::Revoked("front desk".into())
            );
            // Added again, a removed desk gets a new key and stays the same desk, with its calls;
            // its old key is then no desk's.
            let again = add(&c, "front desk").await.unwrap();
            let KeyLookup::Active(renewed) = by_key(&c, &again.public_key()).await.unwrap() else {
                panic!("front desk is active again");
            };
            assert_eq!(renewed, desk);
            assert_eq!(
                by_key(&c, &front.public_key()).await.unwrap(),
                KeyLookup::Unknown
            );

            let list = list(&c).await.unwrap();
            let names: Vec<(&str, bool, i64)> = list
                .iter()
                .map(|d| (d.name.as_str(), d.revoked_at.is_some(), d.calls))
                .collect();
            assert_eq!(names, [("back office", false, 0), ("front desk", false, 1)]);
            let back_status = &list[0];
            assert_eq!(back_status.key, back.public_text());
            assert_eq!(back_status.last_contact_at, None);
            assert_eq!((back_status.calls, back_status.events), (0, 0));
            assert!(!back_status.backfilled);
            let json = serde_json::to_value(back_status).unwrap();
            assert!(
                json["created_at"].as_str().unwrap().ends_with('Z'),
                "{json}"
            );
            assert!(json.get("last_contact_ms").is_none(), "{json}");
        });
    }

    #[test]
    fn desk_names_are_checked() {
        let db = testing::database();
        block_on(async {
            let c = db.connect().await;
            for (name, why) in [
                ("", "needs a name"),
                ("   ", "needs a name"),
                ("front\ndesk", "control characters"),
                ("front\u{1b}[31m", "control characters"),
                (&"x".repeat(65), "at most 64 characters"),
            ] {
                let e = add(&c, name).await.unwrap_err();
                assert!(e.to_string().contains(why), "{name:?}: {e}");
            }
            add(&c, &"é".repeat(64)).await.unwrap();
            assert_eq!(list(&c).await.unwrap().len(), 1);
        });
    }
}
