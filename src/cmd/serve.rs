//! `callhook serve`: the local API, live events, dashboard and MicroSIP control (`crate::serve`).

use std::net::SocketAddr;

use anyhow::Result;

use crate::config::locations::Locations;

#[derive(clap::Args)]
pub struct Args {
    /// Address and port to listen on [default: [serve] listen, else 127.0.0.1:8765]; port 0
    /// takes a free one
    #[arg(long, value_name = "ADDR:PORT")]
    listen: Option<SocketAddr>,
    /// Open the dashboard in the browser, logged in
    #[arg(long)]
    open: bool,
}

pub fn run(locations: &Locations, args: Args) -> Result<()> {
    crate::serve::run(locations.clone(), args.listen, args.open)
}
