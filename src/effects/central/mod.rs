//! Team mode's desk side: the desk's calls, replicated to central.
//!
//! [`settings`] is `[central]` in the config, [`link`] the lane's state in the desk's database
//! (what the hook reads), [`replicate`] builds a batch from the queued changes or the backfill,
//! and [`send`] (the worker's only) posts it, signed with the desk's [`key`].

pub mod batch;
pub mod key;
pub mod link;
pub mod replicate;
pub mod send;
pub mod settings;
