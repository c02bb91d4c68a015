//! `tessera completions SHELL` and `tessera man`: shell completion scripts and manual pages,
//! generated from the command line's own definition (so they never drift from it).

use std::path::Path;

use anyhow::{Context, Result};
use clap::Command;

/// Prints the completion script of `shell` to standard output.
pub(crate) fn completions(shell: clap_complete::Shell, mut cmd: Command) {
    clap_complete::generate(shell, &mut cmd, "tessera", &mut std::io::stdout());
}

/// Prints `tessera.1`, or with `dir` writes it and one page per command there.
pub(crate) fn man(cmd: Command, dir: Option<&Path>) -> Result<()> {
    let Some(dir) = dir else {
        let mut out = std::io::stdout();
        return clap_mangen::Man::new(cmd)
            .render(&mut out)
            .context("writing the manual page");
    };
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    clap_mangen::generate_to(cmd, dir)
        .with_context(|| format!("writing manual pages into {}", dir.display()))?;
    println!(
        "Wrote manual pages into {} (read one with `man {}/tessera.1`)",
        dir.display(),
        dir.display()
    );
    Ok(())
}
