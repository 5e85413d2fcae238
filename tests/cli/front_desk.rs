//! The front desk: a day of calls for the query tests, and how their output is snapshotted.

use crate::support::*;

/// 2026-11-24, 12:00 UTC: midday, so the local date is the same in every time zone we run in.
pub const DAY: i64 = T0 - 22 * 3_600_000;

pub const NUMBER_PLAN: &str = "[numbers]\ncountry_code = \"49\"\n";

/// A day of calls at a front desk, 2026-11-23 and 2026-11-24, with `config` after the number
/// plan.
pub fn front_desk(config: &str) -> Desk {
    let desk = Desk::new().with_config(&format!("{NUMBER_PLAN}{config}"));
    let day_before = DAY - 86_400_000;
    /// (start, caller, [(milliseconds after the start, event)])
    type Call = (i64, &'static str, &'static [(i64, &'static str)]);
    let calls: [Call; 9] = [
        (
            day_before,
            "030 1111111",
            &[(0, "incoming"), (1_000, "ring"), (20_000, "end")],
        ),
        (
            day_before + 3_600_000,
            "+49 30 2222222",
            &[(0, "outgoing"), (5_000, "start"), (125_000, "end")],
        ),
        (
            DAY,
            "030 2222222",
            &[
                (0, "incoming"),
                (1_000, "ring"),
                (6_000, "answer"),
                (7_000, "start"),
                (186_000, "end"),
            ],
        ),
        (
            DAY + 600_000,
            "030 1111111",
            &[(0, "incoming"), (1_000, "ring"), (31_000, "end")],
        ),
        (
            DAY + 1_200_000,
            "0171 5555555",
            &[(0, "incoming"), (3_000, "busy")],
        ),
        (
            DAY + 1_800_000,
            "0171 5555555",
            &[(0, "outgoing"), (30_000, "end")],
        ),
        (
            DAY + 2_400_000,
            "030 3333333",
            &[(0, "incoming"), (1_000, "ring"), (10_000, "end")],
        ),
        (
            DAY + 3_000_000,
            "0303333333",
            &[(0, "outgoing"), (10_000, "start"), (70_000, "end")],
        ),
        (
            DAY + 3_600_000,
            "anonymous",
            &[(0, "incoming"), (1_000, "ring"), (20_000, "end")],
        ),
    ];
    for (at, caller, events) in calls {
        desk.record(at, caller, events);
    }
    desk
}

/// Ids (UUIDv7) vary from run to run, and local table times with the zone the commands run
/// in (UTC unless a test sets TZ): snapshots show placeholders for them.
pub fn settings() -> insta::Settings {
    let mut settings = local_settings();
    settings.add_filter(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}", "[local time]");
    settings
}

/// The same, with local times as they are: for commands run with a fixed `TZ`.
pub fn local_settings() -> insta::Settings {
    let mut settings = insta::Settings::clone_current();
    settings.add_filter(
        r"[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}",
        "[call-id]",
    );
    let host = gethostname::gethostname().to_string_lossy().into_owned();
    settings.add_filter(&format!(r"\b{}\b", regex_escape(&host)), "[host]");
    // Column widths follow the values replaced above: only the layout's shape is compared.
    settings.add_filter("─+", "───");
    settings.add_filter(" {2,}", "  ");
    settings.add_filter(r"(?m) +$", "");
    settings
}

fn regex_escape(text: &str) -> String {
    text.chars()
        .flat_map(|c| {
            let special = "\\.+*?()|[]{}^$#&-~".contains(c);
            special.then_some('\\').into_iter().chain([c])
        })
        .collect()
}
