//! Integration tests: the real `callhook` binary, run as a separate process the way MicroSIP
//! runs it, against a real SQLite file in a temp directory.

mod calls;
mod concurrency;
mod failures;
mod fallback;
mod folding;
mod hook;
#[cfg(windows)]
mod microsip;
mod popups;
mod queries;
mod retention;
mod server;
mod setup;
mod storage;
mod support;
mod webhooks;
