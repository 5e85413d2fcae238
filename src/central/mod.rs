//! Team mode's central side: one call log for every desk, in PostgreSQL.

pub mod cluster;
