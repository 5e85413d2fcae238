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

    /// America/Santiago in 2026, by the tz database's rules (a zone of our own: chrono-tz is
    /// not a dependency). -03 until 2026-04-05 03:00Z, when clocks go back from 00:00 to 23:00
    /// (the 4th has 25 hours); -04 until 2026-09-06 04:00Z, when they jump from 00:00 to 01:00
    /// (the 6th has no midnight, and 23 hours); -03 after.
    #[derive(Clone, Copy, Debug)]
    struct Santiago;

    impl Santiago {
        fn offset_at(utc_seconds: i64) -> FixedOffset {
            let winter_from = utc("2026-04-05T03:00:00Z") / 1000;
            let summer_from = utc("2026-09-06T04:00:00Z") / 1000;
            let hours = if (winter_from..summer_from).contains(&utc_seconds) {
                4
            } else {
                3
            };
            FixedOffset::west_opt(hours * 3600).unwrap()
        }
    }

    impl TimeZone for Santiago {
        type Offset = FixedOffset;

        fn from_offset(_: &FixedOffset) -> Self {
            Santiago
        }

        fn offset_from_local_date(&self, local: &NaiveDate) -> LocalResult<FixedOffset> {
            self.offset_from_local_datetime(&local.and_time(NaiveTime::MIN))
        }

        fn offset_from_local_datetime(&self, local: &NaiveDateTime) -> LocalResult<FixedOffset> {
            // The offsets that give back this local time; the earlier instant first.
            let fits: Vec<FixedOffset> = [3, 4]
                .map(|h| FixedOffset::west_opt(h * 3600).unwrap())
                .into_iter()
                .filter(|&offset| {
                    let at = local.and_utc().timestamp() - offset.local_minus_utc() as i64;
                    Santiago::offset_at(at) == offset
                })
                .collect();
            match fits[..] {
                [] => LocalResult::None,
                [one] => LocalResult::Single(one),
                [earlier, later] => LocalResult::Ambiguous(earlier, later),
                _ => unreachable!(),
            }
        }

        fn offset_from_utc_date(&self, utc: &NaiveDate) -> FixedOffset {
            self.offset_from_utc_datetime(&utc.and_time(NaiveTime::MIN))
        }

        fn offset_from_utc_datetime(&self, utc: &NaiveDateTime) -> FixedOffset {
            Santiago::offset_at(utc.and_utc().timestamp())
        }
    }

    #[test]
    fn local_days_across_clock_changes() {
        let p = |t: &str, b, now: DateTime<Santiago>| parse(t, b, now).unwrap();
        // The day without a midnight begins at 01:00 (-03).
        let now = Santiago.with_ymd_and_hms(2026, 9, 6, 12, 0, 0).unwrap();
        assert_eq!(p("today", Bound::Start, now), utc("2026-09-06T04:00:00Z"));
        assert_eq!(p("today", Bound::End, now), utc("2026-09-07T03:00:00Z"));
        assert_eq!(
            p("yesterday", Bound::Start, now),
            utc("2026-09-05T04:00:00Z")
        );
        assert_eq!(p("yesterday", Bound::End, now), utc("2026-09-06T04:00:00Z"));
        assert_eq!(
            p("2026-09-06", Bound::Start, now),
            utc("2026-09-06T04:00:00Z")
        );
        assert_eq!(
            midnight(&Santiago, NaiveDate::from_ymd_opt(2026, 9, 6).unwrap()),
            utc("2026-09-06T04:00:00Z")
        );
        // 23 hours long.
        assert_eq!(
            p("2026-09-06", Bound::End, now) - p("2026-09-06", Bound::Start, now),
            23 * 3_600_000
        );
        // A time in the gap: the first minute after it.
        assert_eq!(
            p("2026-09-06 00:30", Bound::Start, now),
            utc("2026-09-06T04:00:00Z")
        );
        // Just after midnight on the day of the change it is still yesterday, by the clock.
        let early = Santiago.with_ymd_and_hms(2026, 9, 6, 1, 0, 30).unwrap();
        assert_eq!(p("today", Bound::Start, early), utc("2026-09-06T04:00:00Z"));
        let before = Santiago.with_ymd_and_hms(2026, 9, 5, 23, 59, 0).unwrap();
        assert_eq!(
            p("today", Bound::Start, before),
            utc("2026-09-05T04:00:00Z")
        );

        // The clocks go back at midnight: the 4th has 25 hours, the 5th begins at 00:00 (-04).
        let now = Santiago.with_ymd_and_hms(2026, 4, 5, 9, 0, 0).unwrap();
        assert_eq!(p("today", Bound::Start, now), utc("2026-04-05T04:00:00Z"));
        assert_eq!(
            p("yesterday", Bound::Start, now),
            utc("2026-04-04T03:00:00Z")
        );
        assert_eq!(
            p("2026-04-04", Bound::End, now) - p("2026-04-04", Bound::Start, now),
            25 * 3_600_000
        );
        // A time that comes twice: the first.
        assert_eq!(
            p("2026-04-04 23:30", Bound::Start, now),
            utc("2026-04-05T02:30:00Z")
        );
        // Durations count real time across the change.
        assert_eq!(p("12h", Bound::Start, now), utc("2026-04-05T01:00:00Z"));
    }
}
