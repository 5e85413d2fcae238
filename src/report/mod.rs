//! The read side that the admin commands and `callhook serve` share: what a call list, a
//! call's detail, the unreturned missed calls and the statistics are, and how they are laid
//! out (table, CSV, JSON). One implementation, so the API answers exactly what the CLI prints.

pub mod call_list;
pub mod detail;
pub mod filter;
pub mod output;
pub mod stats;
pub mod team;
pub mod unreturned;
pub mod when;
