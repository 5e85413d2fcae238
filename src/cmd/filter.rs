//! The list options of `calls` and `missed`.

use crate::report::output::Format;

#[derive(clap::Args, Clone, Debug)]
pub struct ListArgs {
    /// How many rows to show, newest first
    #[arg(long, default_value_t = 50)]
    limit: u32,
    /// Every row (no limit)
    #[arg(long, conflicts_with = "limit")]
    all: bool,
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

impl ListArgs {
    /// The most rows to print; `None`: all.
    pub fn limit(&self) -> Option<u32> {
        (!self.all).then_some(self.limit)
    }
}
