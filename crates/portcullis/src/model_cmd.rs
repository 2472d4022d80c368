//! `portcullis model ...`: model signing and verification (issue 6, in progress).

use anyhow::Result;
use clap::Subcommand;

/// `portcullis model ...`.
#[derive(Subcommand)]
pub enum ModelCommand {}

/// Runs a `model` subcommand.
pub fn run(command: ModelCommand) -> Result<()> {
    match command {}
}
