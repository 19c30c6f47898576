//! The two offline verifiers — `unionfund audit verify-export | verify-consistency` and
//! `python3 tools/verify_trail.py` — print the same line of JSON, byte for byte, and exit with
//! the same status on every kind of input: a sound trail, an altered, a removed and a moved
//! line, a cut-off line, a line that is not JSON, an empty and a missing file, a kept checkpoint
//! (good, under another key, of another tree), and consistency proofs (good, forged, unreadable).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::{Value, json};
use unionfund::config::{DEFAULT_LOG_ORIGIN, DEVELOPMENT_LOG_SEED};
use unionfund::domain::note::LogSigner;
use unionfund::domain::policy::Role;

use crate::helpers::*;

async fn export(app: &TestApp) -> String {
    let r = app.get_as(Role::Auditor, "/api/v1/audit/export?format=ndjson").await;
    assert_eq!(r.status(), 200);
    r.text().await.unwrap()
}

async fn checkpoint_note(app: &TestApp) -> String {
    let r = app.post_as(Role::Auditor, "/api/v1/audit/checkpoints", json!({})).await;
    assert_eq!(r.status(), 201);
    body(r).await["note"].as_str().unwrap().to_owned()
}

/// A temporary directory, removed at the end.
struct Dir(PathBuf);

impl Dir {
    fn new() -> Self {
        let dir = std::env::temp_dir().join(format!("unionfund-verifiers-{}", uuid::Uuid::now_v7()));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }
    fn put(&self, name: &str, text: &str) -> String {
        let p = self.0.join(name);
        std::fs::write(&p, text).unwrap();
        p.display().to_string()
    }
    fn absent(&self, name: &str) -> String {
        self.0.join(name).display().to_string()
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs both verifiers with the same arguments (`consistency …` or an export's), asserts that
/// they print the same bytes and exit alike, and answers the parsed line and the exit code.
fn both(args: &[&str]) -> (Value, i32) {
    let mut binary = Command::new(env!("CARGO_BIN_EXE_unionfund"));
    match args.split_first() {
        Some((&"consistency", rest)) => binary.args(["audit", "verify-consistency"]).args(rest),
        _ => binary.args(["audit", "verify-export"]).args(args),
    };
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tools/verify_trail.py");
    let mut python = Command::new("python3");
    python.arg(script).args(args);
    // Both at once: the script's start-up is most of the time a check takes.
    let run = |c: &mut Command| c.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let (rust, python) = (run(&mut binary), run(&mut python));
    let (rust, python) = (rust.wait_with_output().unwrap(), python.wait_with_output().unwrap());
    let text = |o: &std::process::Output| {
        format!("{:?} {} {}", o.status.code(), String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
    };
    assert_eq!(rust.stdout, python.stdout, "{args:?}\n  binary: {}\n  python: {}", text(&rust), text(&python));
    assert_eq!(
        rust.status.code(),
        python.status.code(),
        "{args:?}\n  binary: {}\n  python: {}",
        text(&rust),
        text(&python)
    );
    assert!(rust.stderr.is_empty() && python.stderr.is_empty(), "{args:?}: {} / {}", text(&rust), text(&python));
    let v: Value = serde_json::from_slice(&rust.stdout).unwrap_or_else(|_| panic!("{args:?}: {}", text(&rust)));
    assert_eq!(rust.stdout.iter().filter(|&&b| b == b'\n').count(), 1, "one line: {}", text(&rust));
    (v, rust.status.code().unwrap())
}

fn unreadable(args: &[&str], error: &str) {
    assert_eq!(both(args), (json!({"ok": false, "error": error}), 2), "{args:?}");
}

fn field(line: &str, name: &str) -> Value {
    serde_json::from_str::<Value>(line).unwrap()[name].clone()
}

#[tokio::test]
async fn both_verifiers_print_the_same_verdict_on_sound_altered_removed_moved_and_unreadable_trails() {
    let app = spawn_app().await;
    // The auditor's account is made at its first request: before the sources, not among them.
    assert_eq!(app.get_as(Role::Auditor, "/api/v1/audit/log-key").await.status(), 200);
    let fund = app.fund("60000.00").await["id"].as_str().unwrap().to_owned();
    post_sources(&app, &fund, &["1.00", "2.00", "3.00", "4.00", "5.00"]).await;
    let text = export(&app).await;
    let lines: Vec<&str> = text.lines().collect();
    let n = lines.len();
    let stream = format!("fund:{fund}");
    // The sources are the last lines, one event each on the fund's stream.
    let at = |amount: &str| lines.iter().position(|l| field(l, "amount") == amount).unwrap();
    assert_eq!((at("1.00"), at("5.00")), (n - 5, n - 1), "{text}");
    assert!(lines[n - 5..].iter().all(|l| field(l, "stream") == stream.as_str()));
    let dir = Dir::new();
    let joined = |ls: &[&str]| ls.iter().map(|l| format!("{l}\n")).collect::<String>();

    // Sound: every event checked, nothing broken.
    let sound = dir.put("sound.ndjson", &text);
    let ok = json!({"ok": true, "checked": n, "broken": 0, "first_broken": null, "checkpoint": null});
    assert_eq!(both(&[&sound]), (ok, 0));
    // Blank lines (and CRLF line ends) are not events: the same verdict.
    let spaced = dir.put("spaced.ndjson", &format!("\r\n{}\n \t\n", text.replace('\n', "\r\n")));
    assert_eq!(both(&[&spaced]).0["checked"], n);

    // An amount altered: that event, and only it, is broken; the rest is still checked.
    let i = at("2.00");
    let mut altered = lines.clone();
    let changed = lines[i].replace("\"amount\":\"2.00\"", "\"amount\":\"2000.00\"");
    altered[i] = &changed;
    let file = dir.put("altered.ndjson", &joined(&altered));
    let broken = json!({
        "seq": field(lines[i], "seq"), "line": i + 1, "reason": "hash_mismatch",
        "detail": "recomputed hash differs from the stored hash",
    });
    let expected = json!({"ok": false, "checked": n, "broken": 1, "first_broken": broken, "checkpoint": null});
    assert_eq!(both(&[&file]), (expected, 1));

    // A line removed: the next event of its stream is broken, and only it.
    let i = at("3.00");
    let mut removed = lines.clone();
    removed.remove(i);
    let file = dir.put("removed.ndjson", &joined(&removed));
    let next = field(lines[i + 1], "stream_seq").as_i64().unwrap();
    let broken = json!({
        "seq": field(lines[i + 1], "seq"), "line": i + 1, "reason": "chain_broken",
        "detail": format!("stream_seq {next} in {stream} should be {}", next - 1),
    });
    let expected = json!({"ok": false, "checked": n - 1, "broken": 1, "first_broken": broken, "checkpoint": null});
    assert_eq!(both(&[&file]), (expected, 1));

    // Two lines swapped (3.00 after 4.00): the later one comes too early in its stream, the
    // earlier one's seq goes back, and 5.00 no longer follows its stream's previous line.
    let i = at("3.00");
    let mut moved = lines.clone();
    moved.swap(i, i + 1);
    let file = dir.put("moved.ndjson", &joined(&moved));
    let later = field(lines[i + 1], "stream_seq").as_i64().unwrap();
    let broken = json!({
        "seq": field(lines[i + 1], "seq"), "line": i + 1, "reason": "chain_broken",
        "detail": format!("stream_seq {later} in {stream} should be {}", later - 1),
    });
    let expected = json!({"ok": false, "checked": n, "broken": 3, "first_broken": broken, "checkpoint": null});
    assert_eq!(both(&[&file]), (expected, 1));

    // Unreadable input is a JSON answer too, with exit status 2: the last line cut off (as a
    // broken download leaves it), a line that is not JSON, a line that is not an event, a line
    // that is not UTF-8, an empty file, a missing file.
    let cut = dir.put("cut.ndjson", &text[..text.len() - lines[n - 1].len() / 2 - 1]);
    unreadable(&[&cut], &format!("{cut}: line {n}: not JSON"));
    let mut garbled = lines.clone();
    garbled.insert(2, "this is not an event");
    let file = dir.put("garbled.ndjson", &joined(&garbled));
    unreadable(&[&file], &format!("{file}: line 3: not JSON"));
    let mut wrong = lines.clone();
    let typed = lines[1].replacen("\"stream_seq\":", "\"stream_seq\":\"x\",\"was\":", 1);
    wrong[1] = &typed;
    let file = dir.put("typed.ndjson", &joined(&wrong));
    unreadable(&[&file], &format!("{file}: line 2: 'stream_seq' is not an integer"));
    let file = dir.0.join("latin1.ndjson");
    std::fs::write(&file, [text.as_bytes(), b"\xe9t\xe9\n"].concat()).unwrap();
    let file = file.display().to_string();
    unreadable(&[&file], &format!("{file}: line {}: not UTF-8", n + 1));
    // JSON that one parser takes and another may not: both read it as serde_json does (an
    // unknown field is ignored only when it is JSON serde_json reads).
    let deep = format!("{}{}", "[".repeat(127), "]".repeat(127));
    let huge = format!("1{}", "0".repeat(400));
    for (value, code) in [
        ("-0", 0),
        ("1e400", 2),
        (huge.as_str(), 2),
        ("\"\\ud800\"", 2),
        ("\"\\ud83d\\ude00\"", 0),
        (&deep[2..deep.len() - 2], 0),
        (deep.as_str(), 2),
    ] {
        let odd = format!("{},\"extra\":{value}}}", &lines[0][..lines[0].len() - 1]);
        let file = dir.put("odd.ndjson", &joined(&[odd.as_str()]));
        assert_eq!(both(&[&file]).1, code, "extra = {value}");
        let odd = lines[0].replacen("\"seq\":", &format!("\"seq\":{value},\"was\":"), 1);
        let file = dir.put("odd.ndjson", &joined(&[odd.as_str()]));
        assert_eq!(both(&[&file]).1, 2, "seq = {value}");
    }
    let empty = dir.put("empty.ndjson", "");
    unreadable(&[&empty], &format!("{empty}: no events"));
    let missing = dir.absent("missing.ndjson");
    unreadable(&[&missing], &format!("{missing}: no such file"));

    app.finish().await;
}

#[tokio::test]
async fn both_verifiers_print_the_same_verdict_on_kept_checkpoints_and_consistency_proofs() {
    let app = spawn_app().await;
    let fund = app.fund("60000.00").await["id"].as_str().unwrap().to_owned();
    post_sources(&app, &fund, &["10.00", "20.00"]).await;
    let old = checkpoint_note(&app).await;
    post_sources(&app, &fund, &["30.00"]).await;
    let new = checkpoint_note(&app).await;
    let key = body(app.get_as(Role::Auditor, "/api/v1/audit/log-key").await).await["verifier_key"]
        .as_str()
        .unwrap()
        .to_owned();
    let size = |note: &str| note.lines().nth(1).unwrap().parse::<u64>().unwrap();
    let (old_size, new_size) = (size(&old), size(&new));
    let proof =
        body(app.get_as(Role::Auditor, &format!("/api/v1/audit/consistency?from={old_size}&to={new_size}")).await)
            .await;
    let text = export(&app).await;
    let n = text.lines().count();
    let dir = Dir::new();
    let trail = dir.put("trail.ndjson", &text);
    let (old_note, new_note) = (dir.put("old.note", &format!("{old}\n")), dir.put("new.note", &new));
    let other_key = LogSigner::new(DEFAULT_LOG_ORIGIN, [1; 32]).verifier_key();
    // The development key signs anything: a note of this log's name for a tree of other events.
    let dev = LogSigner::new(DEFAULT_LOG_ORIGIN, DEVELOPMENT_LOG_SEED);
    assert_eq!(dev.verifier_key(), key);
    let foreign = dir.put("foreign.note", &dev.sign(new_size, [9; 32]));
    let longer = dir.put("longer.note", &dev.sign(new_size + 50, [9; 32]));

    let verdict = |checked: usize, broken: Value, cp: Value| {
        let ok = broken.is_null() && cp["signature_valid"] == true && cp["root_matches"] == true;
        let count = u64::from(!broken.is_null());
        json!({"ok": ok, "checked": checked, "broken": count, "first_broken": broken, "checkpoint": cp})
    };
    let cp = |signature_valid: bool, root_matches: bool, size: u64, problem: Value| json!({"tree_size": size, "signature_valid": signature_valid, "root_matches": root_matches, "log_problem": problem, "witnesses": null});
    let export_against = |file: &str, note: &str, key: &str| both(&[file, "--checkpoint", note, "--key", key]);

    // The export against the newer note: every event below its size is there, the root matches.
    let good = verdict(n, Value::Null, cp(true, true, new_size, Value::Null));
    assert_eq!(export_against(&trail, &new_note, &key), (good, 0));
    // The older note, kept with one more newline: its tree is a prefix of the export.
    assert_eq!(export_against(&trail, &old_note, &key).0["checkpoint"], cp(true, true, old_size, Value::Null));
    // Under another key the signature fails (the tree still matches).
    assert_eq!(
        export_against(&trail, &new_note, &other_key),
        (verdict(n, Value::Null, cp(false, true, new_size, Value::Null)), 1)
    );
    // A note for another tree: signed, but not this trail's root; larger than the export, and
    // positions are missing.
    assert_eq!(
        export_against(&trail, &foreign, &key),
        (verdict(n, Value::Null, cp(true, false, new_size, Value::Null)), 1)
    );
    assert_eq!(
        export_against(&trail, &longer, &key),
        (verdict(n, Value::Null, cp(true, false, new_size + 50, json!("log_incomplete"))), 1)
    );
    // An altered amount breaks its event's hash and, through its leaf, the root.
    let lines: Vec<&str> = text.lines().collect();
    let i = lines.iter().position(|l| l.contains("\"amount\":\"20.00\"")).unwrap();
    let altered = dir.put("altered.ndjson", &text.replacen("\"amount\":\"20.00\"", "\"amount\":\"20000.00\"", 1));
    let broken = json!({
        "seq": field(lines[i], "seq"), "line": i + 1, "reason": "hash_mismatch",
        "detail": "recomputed hash differs from the stored hash",
    });
    assert_eq!(
        export_against(&altered, &new_note, &key),
        (verdict(n, broken, cp(true, false, new_size, Value::Null)), 1)
    );
    // What cannot be read: the key, the note, then the export.
    let missing = dir.absent("missing.ndjson");
    unreadable(&[&missing, "--checkpoint", &new_note, "--key", "nonsense"], "verifier key: malformed");
    let no_note = dir.absent("missing.note");
    unreadable(&[&missing, "--checkpoint", &no_note, "--key", &key], &format!("{no_note}: no such file"));
    let bad_note = dir.put("bad.note", "not a checkpoint\n");
    unreadable(&[&trail, "--checkpoint", &bad_note, "--key", &key], &format!("{bad_note}: malformed checkpoint note"));
    unreadable(&[&missing, "--checkpoint", &new_note, "--key", &key], &format!("{missing}: no such file"));

    // Consistency: the proof the API gave, one forged, one for other sizes, under another key.
    let check = |proof: &str, key: &str| both(&["consistency", &old_note, &new_note, proof, "--key", key]);
    let consistent = |signatures_valid: bool, proof_valid: bool| {
        let ok = signatures_valid && proof_valid;
        json!({"ok": ok, "from": old_size, "to": new_size, "signatures_valid": signatures_valid, "proof_valid": proof_valid, "witnesses": null})
    };
    let proof_file = dir.put("proof.json", &proof.to_string());
    assert_eq!(check(&proof_file, &key), (consistent(true, true), 0));
    let mut forged = proof.clone();
    forged["proof"][0] = json!("07".repeat(32));
    let forged = dir.put("forged.json", &forged.to_string());
    assert_eq!(check(&forged, &key), (consistent(true, false), 1));
    let mut shifted = proof.clone();
    shifted["from"] = json!(old_size - 1);
    let shifted = dir.put("shifted.json", &shifted.to_string());
    assert_eq!(check(&shifted, &key), (consistent(true, false), 1));
    assert_eq!(check(&proof_file, &other_key), (consistent(false, true), 1));
    // Proof files that cannot be read.
    let not_json = dir.put("not-json.json", "{\"from\": 1,");
    unreadable(&["consistency", &old_note, &new_note, &not_json, "--key", &key], &format!("{not_json}: not JSON"));
    let shapeless = dir.put("shapeless.json", "[1, 2]");
    let error = format!("{shapeless}: expected from, to and proof");
    unreadable(&["consistency", &old_note, &new_note, &shapeless, "--key", &key], &error);
    let mut short = proof.clone();
    short["proof"][0] = json!("abc");
    let short = dir.put("short.json", &short.to_string());
    let error = format!("{short}: a proof element is not 64 hex digits");
    unreadable(&["consistency", &old_note, &new_note, &short, "--key", &key], &error);
    let no_proof = dir.absent("missing.json");
    unreadable(&["consistency", &old_note, &new_note, &no_proof, "--key", &key], &format!("{no_proof}: no such file"));
    unreadable(&["consistency", &old_note, &no_note, &no_proof, "--key", &key], &format!("{no_note}: no such file"));

    app.finish().await;
}

#[test]
fn a_key_without_a_checkpoint_is_a_wrong_command_line_for_both() {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tools/verify_trail.py");
    let python = Command::new("python3").arg(script).args(["trail.ndjson", "--key", "k"]).output().unwrap();
    let binary = Command::new(env!("CARGO_BIN_EXE_unionfund"))
        .args(["audit", "verify-export", "trail.ndjson", "--key", "k"])
        .output()
        .unwrap();
    for out in [python, binary] {
        assert_eq!(out.status.code(), Some(2));
        assert!(out.stdout.is_empty());
        assert!(!out.stderr.is_empty());
    }
}

/// A small deterministic generator (xorshift64*), so that a failure replays.
struct Dice(u64);

impl Dice {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 33) as usize % n.max(1)
    }
}

/// One damage done to an export, as an auditor's file might suffer it or a forger might try.
fn damage(dice: &mut Dice, lines: &[String]) -> (String, Vec<u8>) {
    const FIELDS: [&str; 21] = [
        "seq",
        "stream",
        "stream_seq",
        "occurred_at",
        "actor",
        "actor_role",
        "org_id",
        "request_id",
        "action",
        "entity_type",
        "entity_id",
        "fund_id",
        "stage",
        "amount",
        "entry_id",
        "before",
        "after",
        "prev_hash",
        "hash",
        "log_index",
        "extra",
    ];
    const VALUES: [&str; 16] = [
        "null",
        "5",
        "-1",
        "0",
        "1.5",
        "1e3",
        "true",
        "\"x\"",
        "[1]",
        "{\"a\":1}",
        "\"\"",
        "\"\\ud800\"",
        "18446744073709551616",
        "9223372036854775807",
        "\"\\u00e9\\n\"",
        "-0",
    ];
    let mut lines = lines.to_vec();
    let i = dice.below(lines.len());
    let what = dice.below(9);
    let label = match what {
        0 | 1 => {
            let (name, value) = (FIELDS[dice.below(FIELDS.len())], VALUES[dice.below(VALUES.len())]);
            let mut v: Value = serde_json::from_str(&lines[i]).unwrap();
            v.as_object_mut().unwrap().remove(name);
            let rest = v.to_string();
            lines[i] = format!("{{\"{name}\":{value},{}\n", &rest[1..]);
            format!("line {} {name} = {value}", i + 1)
        }
        2 => {
            let name = FIELDS[dice.below(FIELDS.len())];
            let mut v: Value = serde_json::from_str(&lines[i]).unwrap();
            v.as_object_mut().unwrap().remove(name);
            lines[i] = format!("{v}\n");
            format!("line {} without {name}", i + 1)
        }
        3 => {
            let j = dice.below(lines.len());
            lines.swap(i, j);
            format!("lines {} and {} swapped", i + 1, j + 1)
        }
        4 => {
            let copy = lines[i].clone();
            lines.insert(dice.below(lines.len()), copy);
            format!("line {} repeated", i + 1)
        }
        5 => {
            lines.remove(i);
            format!("line {} removed", i + 1)
        }
        6 => {
            let hash = field(&lines[i], "hash").as_str().unwrap().to_owned();
            lines[i] = lines[i].replace(&hash, &hash.to_uppercase());
            format!("line {} with its hash in upper case", i + 1)
        }
        7 => {
            let text = lines.concat();
            let cut = dice.below(text.len());
            return (format!("cut at byte {cut}"), text.as_bytes()[..cut].to_vec());
        }
        _ => {
            let mut bytes = lines.concat().into_bytes();
            let at = dice.below(bytes.len());
            let junk: &[u8] = [b"\xff".as_slice(), b"\x01", b"\r", b"\n", b"\"", b" ", b"\xc3"][dice.below(7)];
            bytes.splice(at..at, junk.iter().copied());
            return (format!("{junk:?} at byte {at}"), bytes);
        }
    };
    (label, lines.concat().into_bytes())
}

#[tokio::test]
async fn both_verifiers_agree_on_each_of_forty_random_damages_to_a_trail() {
    let app = spawn_app().await;
    assert_eq!(app.get_as(Role::Auditor, "/api/v1/audit/log-key").await.status(), 200);
    let fund = app.fund("60000.00").await["id"].as_str().unwrap().to_owned();
    post_sources(&app, &fund, &["1.00", "2.00", "3.00"]).await;
    let note = checkpoint_note(&app).await;
    let key = LogSigner::new(DEFAULT_LOG_ORIGIN, DEVELOPMENT_LOG_SEED).verifier_key();
    let text = export(&app).await;
    let lines: Vec<String> = text.lines().map(|l| format!("{l}\n")).collect();
    let dir = Dir::new();
    let note = dir.put("kept.note", &note);
    let mut dice = Dice(0x5eed_0fa0_d170);
    let mut codes = [0; 3];
    for n in 0..40 {
        let (label, bytes) = damage(&mut dice, &lines);
        let file = dir.0.join(format!("damaged-{n}.ndjson"));
        std::fs::write(&file, &bytes).unwrap();
        let file = file.display().to_string();
        // `both` asserts the same bytes and exit status; the label says which damage it was.
        let (_, code) = std::panic::catch_unwind(|| both(&[&file])).unwrap_or_else(|_| panic!("damage {n}: {label}"));
        let _ = std::panic::catch_unwind(|| both(&[&file, "--checkpoint", &note, "--key", &key]))
            .unwrap_or_else(|_| panic!("damage {n} against the checkpoint: {label}"));
        codes[usize::try_from(code).unwrap()] += 1;
    }
    // The damages reach every verdict: some harmless, most broken or unreadable.
    assert!(codes.iter().all(|&c| c > 0), "exit codes 0, 1, 2: {codes:?}");
    app.finish().await;
}
