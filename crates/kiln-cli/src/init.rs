//! `kiln init [DIR]`: writes a new platform from the library's scaffold and says what to do
//! next.

use std::fmt::Write as _;
use std::path::Path;

/// Creates the platform in `dir` and returns what to print (nothing when `quiet`).
pub fn run(dir: &Path, quiet: bool) -> kiln::Result<String> {
    let report = kiln::init(dir)?;
    if quiet {
        return Ok(String::new());
    }
    let mut out = format!(
        "created platform `{}` in {} ({} files):\n",
        report.name,
        dir.display(),
        report.created.len()
    );
    for file in &report.created {
        let _ = writeln!(out, "  {}", file.display());
    }
    out.push_str("next:\n");
    if dir != Path::new(".") {
        let _ = writeln!(out, "  cd {}", dir.display());
    }
    out.push_str(
        "  kiln render    # write the k8s/ tree\n  \
         kiln check     # what CI runs (.github/workflows/kiln.yml)\n  \
         git init && git add . && git commit -m \"A kiln platform\"\n",
    );
    Ok(out)
}
