//! `quayside plan` and `validate` end to end on the quickstart's `oci:`
//! layouts: the outputs people read are snapshotted.

use crate::quayside::{Quayside, repo_root, scratch_copy};

fn quickstart() -> tempfile::TempDir {
    scratch_copy(&repo_root().join("examples/quickstart"))
}

#[test]
fn quickstart_plan_text() {
    let dir = quickstart();
    let out = Quayside::new(dir.path()).args(["plan"]).run();
    assert_eq!(out.code, 0, "{out:?}");
    insta::assert_snapshot!("quickstart_plan_text", out.stdout);
}

#[test]
fn quickstart_plan_json_matches_the_spec_shape() {
    let dir = quickstart();
    let out = Quayside::new(dir.path())
        .args(["plan", "--format", "json"])
        .run();
    assert_eq!(out.code, 0, "{out:?}");
    let plan = out.json();
    assert_eq!(plan["schema"], 1);
    for key in ["create", "sign", "unchanged", "refused", "warnings"] {
        assert!(plan["summary"][key].is_u64(), "summary.{key}");
    }
    for action in plan["actions"].as_array().unwrap() {
        for key in ["service", "tag", "kind", "digest", "source", "target"] {
            assert!(action[key].is_string(), "action.{key} in {action}");
        }
    }
    insta::assert_snapshot!("quickstart_plan_json", out.stdout);
}

#[test]
fn quickstart_plan_markdown() {
    let dir = quickstart();
    let out = Quayside::new(dir.path())
        .args(["plan", "--format", "markdown"])
        .run();
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.stdout.len() < 65_536);
    insta::assert_snapshot!("quickstart_plan_markdown", out.stdout);
}

#[test]
fn detailed_exitcode_reports_pending_changes_with_2() {
    let dir = quickstart();
    let out = Quayside::new(dir.path())
        .args(["plan", "--detailed-exitcode"])
        .run();
    assert_eq!(out.code, 2, "{out:?}");
}

#[test]
fn uncommenting_the_refusal_line_makes_plan_exit_3() {
    let dir = quickstart();
    let file = dir.path().join("releases.toml");
    let text = std::fs::read_to_string(&file).unwrap();
    let marker = "# REFUSE: ";
    assert!(
        text.contains(marker),
        "the quickstart keeps a line to uncomment"
    );
    std::fs::write(&file, text.replace(marker, "")).unwrap();
    let out = Quayside::new(dir.path())
        .args(["plan", "--format", "json"])
        .run();
    assert_eq!(out.code, 3, "{out:?}");
    let plan = out.json();
    let refusal = &plan["refusals"][0];
    assert!(refusal["code"].is_string());
    assert_eq!(refusal["location"]["file"], "releases.toml");
    assert!(refusal["location"]["line"].as_u64().unwrap() > 1);
}

#[test]
fn plan_out_writes_the_json_plan() {
    let dir = quickstart();
    let out = Quayside::new(dir.path())
        .args(["plan", "--out", "plan.json"])
        .run();
    assert_eq!(out.code, 0, "{out:?}");
    let saved = std::fs::read_to_string(dir.path().join("plan.json")).unwrap();
    let plan: serde_json::Value = serde_json::from_str(&saved).unwrap();
    assert_eq!(plan["schema"], 1);
}

#[test]
fn validate_accepts_the_projects_own_releases_file() {
    let out = Quayside::new(&repo_root())
        .args(["validate", "-f", "releases.toml"])
        .run();
    assert_eq!(out.code, 0, "{out:?}");
}

#[test]
fn plan_on_a_missing_file_exits_1_and_says_which() {
    let dir = tempfile::tempdir().unwrap();
    let out = Quayside::new(dir.path()).args(["plan"]).run();
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stderr.contains("releases.toml"), "{out:?}");
}

#[test]
fn validate_reports_all_five_mistakes_and_exits_1() {
    let out = Quayside::new(&repo_root())
        .args(["validate", "-f", "tests/fixtures/config/five-mistakes.toml"])
        .run();
    assert_eq!(out.code, 1, "{out:?}");
    // The problems are validate's verdict: on stdout.
    let errors = out.stdout.matches("error[").count();
    assert_eq!(errors, 5, "{}", out.stdout);
    assert!(
        out.stdout
            .contains("tests/fixtures/config/five-mistakes.toml:"),
        "{}",
        out.stdout
    );
}

#[test]
fn plan_refuses_invalid_tags_that_validate_rejects() {
    let dir = quickstart();
    let file = dir.path().join("releases.toml");
    let text = std::fs::read_to_string(&file).unwrap();
    let text = text.replacen("\"v1.1.0-rc1\" =", "\"latest\" =", 1);
    std::fs::write(&file, text).unwrap();
    let validate = Quayside::new(dir.path()).args(["validate"]).run();
    assert_eq!(validate.code, 1, "{validate:?}");
    let plan = Quayside::new(dir.path())
        .args(["plan", "--format", "json"])
        .run();
    assert_eq!(plan.code, 3, "{plan:?}");
    let json = plan.json();
    assert_eq!(json["refusals"][0]["code"], "invalid-tag");
    assert_eq!(json["refusals"][0]["tag"], "latest");
}

#[test]
fn help_lists_the_commands() {
    let out = Quayside::new(&repo_root()).args(["--help"]).run();
    assert_eq!(out.code, 0, "{out:?}");
    insta::assert_snapshot!("help", out.stdout);
}

/// `quayside plan | head -1`: `print!` panicked ("failed printing to stdout:
/// Broken pipe") and exited 101 when the reader closed the pipe. The read end
/// here is closed before quayside writes, so every run hits the closed pipe.
#[test]
fn regression_plan_into_a_closed_pipe_exits_0_without_a_panic() {
    let dir = quickstart();
    for format in ["text", "json", "markdown"] {
        let (reader, writer) = std::io::pipe().expect("a pipe");
        drop(reader);
        let mut command = Quayside::new(dir.path())
            .args(["plan", "-f", "releases.toml", "--format", format])
            .into_command();
        let output = command
            .stdout(writer)
            .stderr(std::process::Stdio::piped())
            .output()
            .expect("the quayside binary runs");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(0), "{format}: {stderr}");
        assert!(!stderr.contains("panicked"), "{format}: {stderr}");
        assert!(!stderr.contains("error"), "{format}: {stderr}");
    }
}

#[test]
fn a_stdout_that_cannot_be_written_is_an_error_exit_1() {
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .expect("/dev/full");
    let dir = quickstart();
    let output = Quayside::new(dir.path())
        .args(["plan"])
        .into_command()
        .stdout(full)
        .output()
        .expect("the quayside binary runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.starts_with("error: cannot write to stdout: "),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}
