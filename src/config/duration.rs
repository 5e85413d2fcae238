//! Durations in the config file: `"4h"`, `"90s"`, `"1h 30m"`, or a number of seconds. A leaf:
//! the sections that hold durations import it, and it imports nothing of theirs.

use std::time::Duration;

use serde::{Deserialize, Deserializer};

/// A duration written as `"4h"`, `"90s"`, `"1h 30m"`, or a number of seconds.
pub fn duration<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
    Ok(DurationText::deserialize(deserializer)?.0)
}

/// A list of durations.
pub fn durations<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<Duration>, D::Error> {
    let list = Vec::<DurationText>::deserialize(deserializer)?;
    Ok(list.into_iter().map(|d| d.0).collect())
}

struct DurationText(Duration);

impl<'de> Deserialize<'de> for DurationText {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Seconds(u64),
            Text(String),
        }
        match Raw::deserialize(deserializer)? {
            Raw::Seconds(s) => Ok(DurationText(Duration::from_secs(s))),
            Raw::Text(t) => humantime::parse_duration(&t)
                .map(DurationText)
                .map_err(|e| {
                    serde::de::Error::custom(format!(
                        "`{t}` is not a duration such as \"4h\" ({e})"
                    ))
                }),
        }
    }
}
