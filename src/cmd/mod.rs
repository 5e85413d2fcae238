//! One module per admin command.

pub mod calls;
pub mod deliver;
pub mod doctor;
pub mod event;
pub mod filter;
pub mod import;
pub mod install;
pub mod missed;
pub mod outbox;
pub mod prune;
pub mod redact;
pub mod replay;
pub mod show;
pub mod stats;
pub mod webhook;
