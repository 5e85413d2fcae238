//! The call log: the SQLite file (opened, migrated, written in turns under its lock), the
//! event and call model, caller numbers, the fold of events into calls (a pure reducer in
//! [`fold`], its rows in [`rows`]), the desk's clocks, contact names, the queries of the admin
//! commands, and the fallback log, where an event that could not be stored waits.

pub mod call;
pub mod caller;
pub mod clock;
pub mod contacts;
pub mod db;
pub mod event;
pub mod fallback;
pub mod fold;
pub mod lock;
pub mod query;
pub mod rows;
