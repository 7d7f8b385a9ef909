//! The commit the binaries are built from, for `firebreak_build_info`: `FIREBREAK_COMMIT`
//! when the build sets it (an image built without `.git`), else git's HEAD, else
//! `unknown`. Reruns when HEAD moves (git's HEAD reflog is written on every commit and
//! checkout), not on every edit.

use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    let s = String::from_utf8(out.stdout).ok()?.trim().to_owned();
    (out.status.success() && !s.is_empty()).then_some(s)
}

fn main() {
    println!("cargo:rerun-if-env-changed=FIREBREAK_COMMIT");
    let commit = match std::env::var("FIREBREAK_COMMIT") {
        Ok(c) if !c.trim().is_empty() => c.trim().to_owned(),
        _ => {
            if let Some(dir) = git(&["rev-parse", "--absolute-git-dir"]) {
                println!("cargo:rerun-if-changed={dir}/logs/HEAD");
                println!("cargo:rerun-if-changed={dir}/HEAD");
            }
            git(&["rev-parse", "--short=12", "HEAD"]).unwrap_or_else(|| "unknown".to_owned())
        }
    };
    println!("cargo:rustc-env=FIREBREAK_BUILD_COMMIT={commit}");
}
