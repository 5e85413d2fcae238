//! Times given on the command line: `now`, `today`, `yesterday`, `7d`, `12h`, `2026-11-01`,
//! `2026-11-01 14:30`, or RFC 3339. Days begin at local midnight (daylight saving time
//! included); storage and output are UTC.

use chrono::{DateTime, Days, Local, LocalResult, NaiveDate, NaiveDateTime, NaiveTime, TimeZone};

/// Which end of a range a time bounds: a bare day as `--until` means the end of that day.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bound {
    Start,
    End,
}

/// Parses `text` as Unix milliseconds, relative to `now`, in the time zone `tz`.
pub fn parse<Tz: TimeZone>(text: &str, bound: Bound, now: DateTime<Tz>) -> Result<i64, String> {
    let tz = now.timezone();
    let t = text.trim();
    let today = now.date_naive();
    let day = |date: NaiveDate| {
        let date = match bound {
            Bound::Start => date,
            Bound::End => date + Days::new(1),
        };
        Ok(midnight(&tz, date))
    };
    match t.to_ascii_lowercase().as_str() {
        "now" => return Ok(now.timestamp_millis()),
        "today" => return day(today),
        "yesterday" => return day(today - Days::new(1)),
        _ => {}
    }
    if let Ok(date) = NaiveDate::parse_from_str(t, "%Y-%m-%d") {
        return day(date);
    }
    if let Ok(at) = DateTime::parse_from_rfc3339(t) {
        return Ok(at.timestamp_millis());
    }
    for format in [
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%dT%H:%M",
    ] {
        if let Ok(local) = NaiveDateTime::parse_from_str(t, format) {
            return Ok(local_time(&tz, local));
        }
    }
    // A duration back from now: 7d, 12h, 30min, 2w.
    if t.starts_with(|c: char| c.is_ascii_digit())
        && let Ok(ago) = humantime::parse_duration(t)
    {
        return Ok(now.timestamp_millis() - ago.as_millis() as i64);
    }
    Err(format!(
        "`{text}` is not a time: use today, yesterday, now, 7d, 12h, 2026-11-01, \
         2026-11-01 14:30 or an RFC 3339 time"
    ))
}

/// The first moment of a local day (after a gap when midnight does not exist that day).
pub fn midnight<Tz: TimeZone>(tz: &Tz, date: NaiveDate) -> i64 {
    local_time(tz, date.and_time(NaiveTime::MIN))
}

fn local_time<Tz: TimeZone>(tz: &Tz, local: NaiveDateTime) -> i64 {
    match tz.from_local_datetime(&local) {
        LocalResult::Single(t) => t.timestamp_millis(),
        LocalResult::Ambiguous(first, _) => first.timestamp_millis(),
        // Skipped by a clock change: the first minute that exists after it.
        LocalResult::None => (1..=180)
            .find_map(|m| {
                tz.from_local_datetime(&(local + chrono::Duration::minutes(m)))
                    .earliest()
            })
            .map_or(local.and_utc().timestamp_millis(), |t| t.timestamp_millis()),
    }
}

/// Parses with the machine's time zone and clock.
pub fn parse_local(text: &str, bound: Bound) -> Result<i64, String> {
    parse(text, bound, Local::now())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{FixedOffset, Utc};

    fn utc(s: &str) -> i64 {
        DateTime::parse_from_rfc3339(s).unwrap().timestamp_millis()
    }

    #[test]
    fn words_days_and_durations() {
        let now = Utc.with_ymd_and_hms(2026, 11, 25, 15, 30, 0).unwrap();
        let p = |t: &str, b| parse(t, b, now).unwrap();
        assert_eq!(p("now", Bound::Start), utc("2026-11-25T15:30:00Z"));
        assert_eq!(p("today", Bound::Start), utc("2026-11-25T00:00:00Z"));
        assert_eq!(p("today", Bound::End), utc("2026-11-26T00:00:00Z"));
        assert_eq!(p("Yesterday", Bound::Start), utc("2026-11-24T00:00:00Z"));
        assert_eq!(p("yesterday", Bound::End), utc("2026-11-25T00:00:00Z"));
        assert_eq!(p("7d", Bound::Start), utc("2026-11-18T15:30:00Z"));
        assert_eq!(p("12h", Bound::Start), utc("2026-11-25T03:30:00Z"));
        assert_eq!(p("2026-11-01", Bound::Start), utc("2026-11-01T00:00:00Z"));
        assert_eq!(p("2026-11-01", Bound::End), utc("2026-11-02T00:00:00Z"));
        assert_eq!(
            p("2026-11-01 14:30", Bound::Start),
            utc("2026-11-01T14:30:00Z")
        );
        assert_eq!(
            p("2026-11-01T10:00:00+02:00", Bound::End),
            utc("2026-11-01T08:00:00Z")
        );
        assert!(
            parse("last week", Bound::Start, now)
                .unwrap_err()
                .contains("not a time")
        );
        assert!(parse("2026-13-01", Bound::Start, now).is_err());
    }

    #[test]
    fn days_begin_at_local_midnight() {
        let berlin_winter = FixedOffset::east_opt(3600).unwrap();
        let now = berlin_winter
            .with_ymd_and_hms(2026, 11, 25, 0, 30, 0)
            .unwrap();
        assert_eq!(
            parse("today", Bound::Start, now).unwrap(),
            utc("2026-11-24T23:00:00Z")
        );
        assert_eq!(
            parse("yesterday", Bound::Start, now).unwrap(),
            utc("2026-11-23T23:00:00Z")
        );
    }
}
