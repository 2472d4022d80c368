//! `portcullis dataset ...`: the training-data poisoning scanner (issue 9, in progress).

use anyhow::Result;
use clap::Subcommand;

/// `portcullis dataset ...`.
#[derive(Subcommand)]
pub enum DatasetCommand {}

/// Runs a `dataset` subcommand.
pub fn run(command: DatasetCommand) -> Result<()> {
    match command {}
}
