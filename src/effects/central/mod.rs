//! Team mode's desk side: the desk's calls, replicated to central.

pub mod batch;
pub mod key;
