//! `callhook webhook test`: a signed sample event to each (or one) webhook, and its answer.

use anyhow::{Result, bail};

use crate::config::locations::Locations;
use crate::effects::webhook::Payload;
use crate::effects::webhook::send::{self, Outcome};
use crate::log::call::{Call, Direction, Status, now_ms};
use crate::report::output::terminal_safe;

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    action: Action,
}

#[derive(clap::Subcommand)]
enum Action {
    /// Send a signed `call.test` event now and print the response
    Test {
        /// The webhook's name (or URL); all of them when absent
        name: Option<String>,
    },
}

pub fn run(locations: &Locations, args: Args) -> Result<()> {
    locations.require_config()?;
    let Action::Test { name } = args.action;
    let webhooks: Vec<_> = locations
        .config
        .webhooks
        .iter()
        .filter(|w| name.as_deref().is_none_or(|n| w.key() == n))
        .collect();
    if webhooks.is_empty() {
        match name {
            Some(name) => bail!("no webhook `{name}` in {}", locations.config_path.display()),
            None => bail!("no [[webhook]] in {}", locations.config_path.display()),
        }
    }
    let now = now_ms();
    let id = crate::log::fold::event_id(now);
    let call = Call {
        id: id.clone(),
        direction: Direction::In,
        status: Status::InProgress,
        number: "+15550100".into(),
        raw: "+15550100".into(),
        name: Some("callhook test".into()),
        started_at: now,
        ringing_at: Some(now),
        answered_at: None,
        ended_at: None,
        last_event_at: now,
        expires_at: None,
        ring_ms: None,
        talk_ms: None,
    };
    let (host, user) = (crate::platform::host_name(), crate::platform::login_name());
    let body = Payload::new("test", now, call.to_json(now), &host, &user, false).to_body();
    let client = send::client()?;
    let mut failures = 0;
    for hook in webhooks {
        let response = send::post(
            &client,
            hook,
            hook.url.0.as_str(),
            &crate::effects::webhook::message_id(&id),
            &body,
        );
        let verdict = match &response.outcome {
            Outcome::Delivered { status } => format!("delivered (HTTP {status})"),
            Outcome::Gone => {
                failures += 1;
                "HTTP 410 Gone: the endpoint wants no more deliveries".into()
            }
            Outcome::Failed { error, .. } => {
                failures += 1;
                format!("failed: {error}")
            }
        };
        // The endpoint's answer (in the error too) is its own text: shown inert.
        let line = format!("{} ({}): {verdict}", hook.key(), hook.url.0);
        println!("{}", terminal_safe(&line));
        let answer: String = response.body.chars().take(2000).collect();
        if !answer.trim().is_empty() {
            println!("{}", terminal_safe(answer.trim()));
        }
    }
    if failures > 0 {
        bail!(
            "{} did not accept the test event",
            crate::report::output::plural(failures, "webhook", "webhooks")
        );
    }
    Ok(())
}
