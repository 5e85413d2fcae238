//! The exit codes of `callhook event`, which MicroSIP ignores and scripts and tests read.

/// The event is not stored (it is in the fallback log).
pub const EXIT_NOT_STORED: u8 = 1;
/// The arguments are not an event (it is in the fallback log).
pub const EXIT_USAGE: u8 = 2;
/// The event is stored, without the config's broken parts.
pub const EXIT_CONFIG: u8 = 3;
