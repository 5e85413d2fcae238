//! Integration tests: the real `callhook` binary, run as a separate process the way MicroSIP
//! runs it, against a real SQLite file in a temp directory.

mod api;
mod calls;
// A private PostgreSQL cluster: its programs run on Linux.
#[cfg(unix)]
mod central;
// The desk under wine, central on Linux (ci/windows.sh starts it).
#[cfg(windows)]
mod central_windows;
mod concurrency;
mod contacts;
mod control;
// A real Chromium through chromedriver, as Debian packages them.
#[cfg(unix)]
mod dashboard;
mod desk_lane;
mod doctor;
mod failures;
mod fallback;
mod folding;
mod front_desk;
mod hook;
mod import;
mod ini;
mod install;
#[cfg(windows)]
mod microsip;
mod missed;
mod openapi;
mod output;
mod popups;
mod retention;
mod served;
mod server;
mod stats;
mod storage;
mod support;
// Time zones are set through TZ, which only Unix reads.
#[cfg(unix)]
mod time;
#[cfg(unix)]
mod webdriver;
mod webhooks;
