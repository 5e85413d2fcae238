//! One module per admin command.

pub mod calls;
pub mod deliver;
pub mod event;
pub mod outbox;
pub mod replay;
pub mod webhook;
