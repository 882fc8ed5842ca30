//! `kiln completions SHELL`: a completion script for bash, zsh, fish, elvish or PowerShell.

use std::io::Write;

/// Writes the completion script of `command` for `shell`.
pub fn write(shell: clap_complete::Shell, mut command: clap::Command, out: &mut impl Write) {
    clap_complete::generate(shell, &mut command, "kiln", out);
}
