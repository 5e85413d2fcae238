//! Team mode's central side: one call log for every desk, in PostgreSQL.

pub mod cluster;
pub mod db;
pub mod desks;

#[cfg(all(test, unix))]
mod testing;
