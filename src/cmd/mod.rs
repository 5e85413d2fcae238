//! One module per admin command.

pub mod calls;
pub mod event;
pub mod replay;
