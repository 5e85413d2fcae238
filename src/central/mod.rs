//! Team mode's central side: one call log for every desk, in PostgreSQL.

pub mod cluster;
pub mod db;
pub mod desks;
pub mod ingest;
pub mod query;

#[cfg(all(test, unix))]
mod testing;
