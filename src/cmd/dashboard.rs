//! `callhook dashboard`: opens the running server's dashboard in the browser, logged in by a
//! one-time link (the server makes it for whoever holds the API token).

use std::time::Duration;

use anyhow::{Context, Result, bail};

use crate::config::locations::Locations;
use crate::serve::{Running, auth, running_path};

#[derive(clap::Args)]
pub struct Args {
    /// Print the one-time link instead of opening a browser (it works once, for 2 minutes)
    #[arg(long)]
    print: bool,
}

pub fn run(locations: &Locations, args: Args) -> Result<()> {
    let state = running_path(locations);
    let running: Running = std::fs::read(&state)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .with_context(|| {
            format!(
                "callhook serve is not running with this config (no {}): start it with \
                 `callhook serve`",
                state.display()
            )
        })?;
    let token = auth::read_token(&auth::token_path(&locations.config_path))?;
    // reqwest is built without a TLS provider of its own and panics without one, even for http.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(10))
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let response = client
        .post(format!("{}/api/login-links", running.url))
        .bearer_auth(&token)
        .send()
        .with_context(|| {
            format!(
                "callhook serve does not answer at {} (was it stopped?)",
                running.url
            )
        })?;
    if !response.status().is_success() {
        bail!(
            "callhook serve at {} refused the login link: {}",
            running.url,
            response.status()
        );
    }
    let link: serde_json::Value = serde_json::from_str(&response.text()?)?;
    let url = link["url"]
        .as_str()
        .context("callhook serve gave no login link")?;
    if args.print {
        println!("{url}");
        Ok(())
    } else {
        crate::platform::open_url(url)?;
        println!("Opened the dashboard at {}.", running.url);
        Ok(())
    }
}
