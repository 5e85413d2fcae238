//! Starting the worker: `callhook deliver --background`, detached, for the hook's locations.
//! Apart from the worker's own loop ([`crate::effects::worker`]), so that the hook, which
//! starts workers, reaches no HTTP code.

use std::ffi::OsStr;

use anyhow::Result;

use crate::config::locations::{Locations, full_program};

/// Starts `callhook deliver` for these locations as a detached process and returns at once.
pub fn worker(locations: &Locations) -> Result<()> {
    let exe = full_program()?;
    let args: [&OsStr; 6] = [
        OsStr::new("--db"),
        locations.db.as_os_str(),
        OsStr::new("--config"),
        locations.config_path.as_os_str(),
        OsStr::new("deliver"),
        OsStr::new("--background"),
    ];
    crate::platform::spawn_detached(&exe, &args)
}
