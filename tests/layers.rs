//! The layers as STYLE.md draws them, checked by reading the sources: `http → service → {db,
//! domain}`, `db → domain`. A rule broken here is a design change, not a test to loosen.

use std::path::Path;

/// Every `.rs` file under `dir`, with its text.
fn sources(dir: &str) -> Vec<(String, String)> {
    fn walk(dir: &Path, out: &mut Vec<(String, String)>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push((path.display().to_string(), std::fs::read_to_string(&path).unwrap()));
            }
        }
    }
    let mut out = Vec::new();
    walk(&Path::new(env!("CARGO_MANIFEST_DIR")).join(dir), &mut out);
    assert!(!out.is_empty(), "no sources under {dir}");
    out
}

/// The lines of the files under `dir` that name `needle`, comments left out.
fn naming(dir: &str, needle: &str) -> Vec<String> {
    sources(dir)
        .into_iter()
        .flat_map(|(path, text)| {
            text.lines()
                .enumerate()
                .filter(|(_, l)| !l.trim_start().starts_with("//") && l.contains(needle))
                .map(|(n, l)| format!("{path}:{}: {}", n + 1, l.trim()))
                .collect::<Vec<_>>()
        })
        .collect()
}

#[test]
fn the_domain_is_pure() {
    for needle in ["diesel", "actix_web", "tokio::", "std::fs", "Utc::now", "rand::"] {
        assert_eq!(naming("src/domain", needle), Vec::<String>::new(), "src/domain names {needle}");
    }
}

#[test]
fn only_db_speaks_to_the_database() {
    for dir in ["src/service", "src/http", "src/domain"] {
        assert_eq!(naming(dir, "diesel"), Vec::<String>::new(), "{dir} names diesel");
        assert_eq!(naming(dir, "PgConnection"), Vec::<String>::new(), "{dir} names a raw connection");
    }
}

#[test]
fn only_http_speaks_http() {
    for dir in ["src/service", "src/db", "src/domain"] {
        assert_eq!(naming(dir, "actix"), Vec::<String>::new(), "{dir} names actix");
    }
}

#[test]
fn nothing_in_the_service_takes_the_write_paths_connection() {
    // Tests look inside the write path's transaction through it; the service never does.
    let users: Vec<String> = naming("src", "unchecked_connection")
        .into_iter()
        .filter(|l| !l.starts_with(&format!("{}/src/db/write.rs", env!("CARGO_MANIFEST_DIR"))))
        .collect();
    assert_eq!(users, Vec::<String>::new());
}
