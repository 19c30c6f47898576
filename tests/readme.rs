//! The README's walk-throughs, run as pasted: every `sh` block of the README except the two
//! commands themselves and the development checks, in order, in one fresh shell, against a
//! service holding the demo data. A newcomer pastes them into a terminal; so does this test.
//!
//! Only three things differ from a newcomer's terminal: the service's address (a test's own port
//! instead of 8080), the binary's path (the one cargo built for this test instead of
//! `target/release/unionfund`), and `curl`, which here fails on an HTTP error (`--fail-with-body`),
//! so that a walk-through whose request the service refuses fails this test instead of printing
//! a problem nobody reads. A block that shows a refusal on purpose says so with `|| true`.

use crate::helpers::*;

const README: &str = include_str!("../README.md");

/// The `sh` blocks a reader runs against the service, in order.
fn walk_throughs() -> Vec<&'static str> {
    let mut blocks = Vec::new();
    let mut rest = README;
    while let Some(start) = rest.find("```sh\n") {
        let body = &rest[start + 6..];
        let end = body.find("```").expect("an sh block is closed");
        let block = &body[..end];
        // The two commands (the service itself, the suite) and the development checks run cargo.
        if !block.lines().any(|l| l.trim_start().starts_with("cargo ")) {
            blocks.push(block);
        }
        rest = &body[end + 3..];
    }
    blocks
}

#[tokio::test]
async fn the_readmes_walk_throughs_run_as_pasted_against_the_demo() {
    let blocks = walk_throughs();
    assert!(blocks.len() >= 5, "the README's walk-throughs were not found: {}", blocks.len());
    let app = spawn_demo_app().await;
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    let real_curl = ["/usr/bin/curl", "/bin/curl"].into_iter().find(|p| std::path::Path::new(p).exists()).unwrap();
    let shim = bin.join("curl");
    std::fs::write(&shim, format!("#!/bin/sh\nexec {real_curl} --fail-with-body \"$@\"\n")).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&shim, std::fs::Permissions::from_mode(0o755)).unwrap();
    // The reader's checkout: the binary where the first command put it, the Python verifier.
    let release = dir.path().join("target/release");
    std::fs::create_dir_all(&release).unwrap();
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_unionfund"), release.join("unionfund")).unwrap();
    std::fs::create_dir(dir.path().join("tools")).unwrap();
    std::fs::copy(
        concat!(env!("CARGO_MANIFEST_DIR"), "/tools/verify_trail.py"),
        dir.path().join("tools/verify_trail.py"),
    )
    .unwrap();

    let base = app.url("");
    let base = base.trim_end_matches('/');
    let script: String = blocks.iter().map(|b| b.replace("http://127.0.0.1:8080", base)).collect::<Vec<_>>().join("\n");
    // tokio's process, awaited: the service answering these requests runs on this test's runtime.
    let out = tokio::process::Command::new("bash")
        .arg("-c")
        .arg(format!("set -euo pipefail\n{script}"))
        .current_dir(dir.path())
        .env("PATH", format!("{}:{}", bin.display(), std::env::var("PATH").unwrap()))
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "a walk-through failed ({}):\n{stdout}\n{stderr}", out.status);

    // What the walk-throughs show, as the README says they show it (jq's pretty JSON and the
    // verifiers' compact lines alike).
    let compact: String = stdout.chars().filter(|c| !c.is_whitespace()).collect();
    assert!(compact.contains("\"available\":\"-1091830.00\""), "the funds list shows the overspent line signed");
    assert!(compact.contains("\"reconciles\":true"), "the item's trace reconciles");
    assert!(compact.contains("\"proof_valid\":true"), "the consistency proof holds");
    assert!(compact.contains("\"root_matches\":true"), "the export matches the kept checkpoint");
    assert!(!compact.contains("\"ok\":false"), "{stdout}");
    let report = std::fs::read_to_string(dir.path().join("out/report.html")).unwrap();
    assert!(report.contains("<h1>") && report.contains("评价结论"), "the annual report was written");
    app.finish().await;
}
