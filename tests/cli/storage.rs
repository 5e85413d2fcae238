//! Where the database lives and what is in it.

use crate::support::*;

#[test]
fn the_default_locations_are_the_users_data_and_config_directories() {
    let desk = Desk::new();
    let (config, db) = if cfg!(windows) {
        (
            "home/AppData/Roaming/callhook/config.toml",
            "home/AppData/Local/callhook/calls.db",
        )
    } else {
        (
            "home/.config/callhook/config.toml",
            "home/.local/share/callhook/calls.db",
        )
    };
    std::fs::create_dir_all(desk.path(config).parent().unwrap()).unwrap();
    std::fs::write(desk.path(config), "[numbers]\ncountry_code = \"44\"\n").unwrap();
    let mut cmd = desk.bare_command();
    cmd.args(["event", "incoming", "--"]);
    caller_arg(&mut cmd, "020 7946 0000");
    assert_stored(&cmd.output().unwrap());
    assert!(desk.path(db).exists(), "database at the default place");
    let out = desk
        .bare_command()
        .args(["calls", "--format", "json"])
        .output()
        .unwrap();
    assert_success(&out, "calls");
    let calls: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        calls[0]["number"], "+442079460000",
        "the default config was read"
    );
}

#[test]
fn a_relative_database_path_in_the_config_is_beside_the_config() {
    let desk = Desk::new().with_config("[database]\npath = \"log/calls.db\"\n");
    let out = desk
        .bare_command()
        .env("CALLHOOK_CONFIG", &desk.config)
        .args(["event", "incoming", "--", "5"])
        .output()
        .unwrap();
    assert_stored(&out);
    assert!(desk.path("config/log/calls.db").exists());
}

#[test]
fn an_empty_file_is_migrated() {
    let desk = Desk::new();
    std::fs::write(&desk.db, b"").unwrap();
    assert_stored(&desk.event("incoming", "9"));
    let conn = desk.conn();
    let version: i64 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap();
    assert_eq!(version, callhook::log::db::SCHEMA_VERSION as i64);
    let mode: String = conn
        .pragma_query_value(None, "journal_mode", |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
}

#[test]
fn the_views_read_like_the_json() {
    let desk = Desk::new();
    desk.record(
        T0,
        "600",
        &[(0, "outgoing"), (2_000, "start"), (62_500, "end")],
    );
    let json = &desk.calls()[0];
    let conn = desk.conn();
    let (id, status, started, talk): (String, String, String, f64) = conn
        .query_row(
            "SELECT id, status, started_at, talk_seconds FROM call_log",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .unwrap();
    assert_eq!(id, str_field(json, "id"));
    assert_eq!(status, "answered");
    assert_eq!(started, str_field(json, "started_at"));
    assert_eq!(talk, 60.5);
    let events: i64 = conn
        .query_row(
            "SELECT count(*) FROM event_log WHERE call_id = ?1",
            [&id],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(events, 3);
}

#[test]
fn a_database_that_does_not_exist_is_an_error_and_no_file() {
    // A typo in --db must not read as an empty call log.
    let desk = Desk::new();
    let typo = desk.path("data/cals.db");
    for args in [
        vec!["calls"],
        vec!["calls", "--format", "json"],
        vec!["missed", "--unreturned"],
        vec!["stats"],
        vec!["show", "01a2"],
        vec!["outbox"],
        vec!["prune", "--before", "365d"],
    ] {
        let out = desk
            .command()
            .arg("--db")
            .arg(&typo)
            .args(&args)
            .output()
            .unwrap();
        assert!(!out.status.success(), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("no database at") && stderr.contains("cals.db"),
            "{args:?}: {stderr}"
        );
        assert!(out.stdout.is_empty(), "{args:?}");
    }
    assert!(!typo.exists(), "reading created nothing");
    // Once a call is recorded, an empty result is just that.
    assert_stored(&desk.event_at(T0, "incoming", "1"));
    let table = desk.run(&["calls", "--number", "2"]);
    assert!(table.starts_with("No calls"), "{table}");
}
