//! The retry schedule of webhooks (`[outbox]` in the config): when the next attempt is due.

use std::time::Duration;

use serde::Deserialize;

use crate::config::duration::{duration, durations};

/// `[outbox]` in the config.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct OutboxConfig {
    /// The waits between attempts of a webhook; after the last, the delivery has failed.
    #[serde(deserialize_with = "durations")]
    pub retries: Vec<Duration>,
    /// The worker stays for retries due within this long; later ones wait for the next event
    /// or a scheduled `callhook deliver`.
    #[serde(deserialize_with = "duration")]
    pub stay: Duration,
}

impl Default for OutboxConfig {
    fn default() -> Self {
        // Standard Webhooks: at once, then 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 14 h, 20 h, 24 h.
        let minutes = [
            5.0 / 60.0,
            5.0,
            30.0,
            120.0,
            300.0,
            600.0,
            840.0,
            1200.0,
            1440.0,
        ];
        OutboxConfig {
            retries: minutes
                .iter()
                .map(|m| Duration::from_secs_f64(m * 60.0))
                .collect(),
            stay: Duration::from_secs(6 * 60),
        }
    }
}

/// When a webhook's next attempt is due after `attempts` failed ones, with ±10 % jitter;
/// `None` once the schedule is used up.
pub fn next_attempt(config: &OutboxConfig, attempts: i64, now: i64, seed: u64) -> Option<i64> {
    let wait = config.retries.get(usize::try_from(attempts - 1).ok()?)?;
    let jitter = 0.9 + (seed % 2001) as f64 / 10_000.0;
    Some(now + (wait.as_millis() as f64 * jitter) as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_schedule_is_standard_webhooks() {
        let config = OutboxConfig::default();
        let minutes: Vec<f64> = config
            .retries
            .iter()
            .map(|d| d.as_secs_f64() / 60.0)
            .collect();
        assert_eq!(minutes.len(), 9);
        assert!((minutes[0] - 5.0 / 60.0).abs() < 1e-9);
        assert_eq!(
            &minutes[1..],
            [5.0, 30.0, 120.0, 300.0, 600.0, 840.0, 1200.0, 1440.0]
        );
    }

    #[test]
    fn retries_follow_the_schedule_with_jitter() {
        let config = OutboxConfig::default();
        for seed in [0, 1000, 2000, 12345] {
            let at = next_attempt(&config, 1, 0, seed).unwrap();
            assert!((4_500..=5_500).contains(&at), "{at}");
        }
        let last = next_attempt(&config, 9, 0, 1000).unwrap();
        assert_eq!(last, 24 * 3600 * 1000);
        assert_eq!(next_attempt(&config, 10, 0, 0), None);
    }
}
