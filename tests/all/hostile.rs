//! Hostile `releases.toml` files through the CLI binary: every file in
//! `tests/corpus/releases/` (plus huge ones generated here) must make
//! `quayside validate` and `quayside plan` fail with a located message
//! (`file:line:column`), never a panic. The expectation is in the file name:
//! `*.error.toml` → exit 1 for both commands; `*.refused.toml` (valid TOML
//! whose only problem is a release tag) → validate exit 1, plan exit 3.

use crate::quayside::{Outcome, Quayside, repo_root};
use std::path::{Path, PathBuf};

const EXIT_ERROR: i32 = 1;
const EXIT_REFUSED: i32 = 3;

/// What a corpus file must make each command do.
#[derive(Clone, Copy, Debug)]
struct Expect {
    validate: i32,
    plan: i32,
}

fn expectation(name: &str) -> Option<Expect> {
    if name.ends_with(".error.toml") {
        Some(Expect {
            validate: EXIT_ERROR,
            plan: EXIT_ERROR,
        })
    } else if name.ends_with(".refused.toml") {
        Some(Expect {
            validate: EXIT_ERROR,
            plan: EXIT_REFUSED,
        })
    } else {
        None
    }
}

fn corpus_dir() -> PathBuf {
    repo_root().join("tests/corpus/releases")
}

/// True when `text` holds `name:LINE:COLUMN` with numbers.
fn located(text: &str, name: &str) -> bool {
    text.match_indices(name).any(|(at, _)| {
        let rest = &text[at + name.len()..];
        let mut parts = rest.splitn(3, ':');
        let _ = parts.next(); // empty: the text right after the name starts with ':'
        let numbers = |s: Option<&str>| {
            s.map(|s| s.chars().take_while(char::is_ascii_digit).count() > 0)
                .unwrap_or(false)
        };
        rest.starts_with(':') && numbers(parts.next()) && numbers(parts.next())
    })
}

/// Runs one command on `name` (in `dir`) and returns a complaint, if any.
/// Output may grow with the number of lines (every problem is reported), but
/// a huge line must not be echoed whole.
fn check(dir: &Path, name: &str, command: &str, want: i32, lines: usize) -> Option<String> {
    let limit = 200_000 + 512 * lines;
    let out: Outcome = Quayside::new(dir)
        .args([command, "-f", name])
        .env("QUAYSIDE_LOG", "warn")
        .run();
    let where_located = if want == EXIT_REFUSED || command == "validate" {
        // A refusal is part of the plan, and validate's problems are its
        // verdict: both go to stdout.
        format!("{}{}", out.stdout, out.stderr)
    } else {
        out.stderr.clone()
    };
    if out.code == 101 || out.stderr.contains("panicked") {
        Some(format!("{name}: `{command}` panicked\n{out:?}"))
    } else if out.code != want {
        Some(format!(
            "{name}: `{command}` exited {}, expected {want}\n{out:?}",
            out.code
        ))
    } else if !located(&where_located, name) {
        Some(format!(
            "{name}: `{command}` gave no `{name}:line:column` location\n{out:?}"
        ))
    } else if out.stderr.len() + out.stdout.len() > limit {
        Some(format!(
            "{name}: `{command}` printed {} bytes for {lines} lines; hostile input must not be echoed in bulk",
            out.stderr.len() + out.stdout.len()
        ))
    } else {
        None
    }
}

/// Copies the file into a scratch folder (its relative `oci:` paths resolve
/// there, so the plan never reads or writes the repository) and checks both
/// commands; returns the complaints.
fn run_both(file: &Path, expect: Expect) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let Some(name) = file.file_name().and_then(|n| n.to_str()) else {
        return vec![format!(
            "{}: corpus file names must be UTF-8",
            file.display()
        )];
    };
    std::fs::copy(file, dir.path().join(name)).unwrap_or_else(|e| panic!("copy {name}: {e}"));
    let lines = std::fs::read(file)
        .map(|bytes| bytes.iter().filter(|&&b| b == b'\n').count() + 1)
        .unwrap_or(1);
    let mut complaints: Vec<String> = [("validate", expect.validate), ("plan", expect.plan)]
        .into_iter()
        .filter_map(|(command, want)| check(dir.path(), name, command, want, lines))
        .collect();
    // A refused or invalid file must leave no trace: plan never writes.
    let left: Vec<String> = std::fs::read_dir(dir.path())
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n != name)
                .collect()
        })
        .unwrap_or_default();
    if !left.is_empty() {
        complaints.push(format!("{name}: the commands created {left:?}"));
    }
    complaints
}

#[test]
fn corpus_files_fail_with_a_location_and_never_panic() {
    let mut files: Vec<PathBuf> = std::fs::read_dir(corpus_dir())
        .unwrap_or_else(|e| panic!("read the corpus: {e}"))
        .filter_map(Result::ok)
        .map(|e| e.path())
        .collect();
    files.sort();
    assert!(files.len() >= 50, "the corpus has {} files", files.len());
    let mut complaints = Vec::new();
    for file in &files {
        let name = file.file_name().unwrap_or_default().to_string_lossy();
        let Some(expect) = expectation(&name) else {
            complaints.push(format!(
                "{name}: corpus files end in .error.toml or .refused.toml"
            ));
            continue;
        };
        complaints.extend(run_both(file, expect));
    }
    assert!(complaints.is_empty(), "{}", complaints.join("\n\n"));
}

/// Files too big to commit, written at test time.
fn generated() -> Vec<(&'static str, Vec<u8>)> {
    let digest = format!("sha256:{}", "a".repeat(64));
    let head = "version = 1\n[registries]\nsource = \"oci:dev\"\ntarget = \"oci:prod\"\n[policy]\nvulnerability_source = \"none\"\n";
    let depth = 50_000;
    let mut many = String::from(head);
    many.push_str("[services.big.releases]\n");
    while many.len() < 8 * 1024 * 1024 {
        many.push_str(&format!("\"v1.0.{}\" = \"{digest}\"\n", many.len()));
    }
    many.push_str("this line = is not toml\n");
    let mut bad_digests = String::from(head);
    bad_digests.push_str("[services.big.releases]\n");
    for n in 0..20_000 {
        bad_digests.push_str(&format!("\"v1.0.{n}\" = \"sha256:nope\"\n"));
    }
    vec![
        (
            "deep-arrays.error.toml",
            format!("a = {}{}\n", "[".repeat(depth), "]".repeat(depth)).into_bytes(),
        ),
        (
            "deep-inline-tables.error.toml",
            format!("a = {}1{}\n", "{b = ".repeat(depth), "}".repeat(depth)).into_bytes(),
        ),
        (
            "deep-dotted-key.error.toml",
            format!("{} = 1\n", vec!["k"; depth].join(".")).into_bytes(),
        ),
        (
            "deep-table-header.error.toml",
            format!("version = 1\n[{}]\n", vec!["s"; depth].join(".")).into_bytes(),
        ),
        (
            "huge-line.error.toml",
            format!("version = 1\nx = \"{}\"\n", "y".repeat(16 * 1024 * 1024)).into_bytes(),
        ),
        ("huge-file-bad-last-line.error.toml", many.into_bytes()),
        (
            "twenty-thousand-bad-digests.error.toml",
            bad_digests.into_bytes(),
        ),
        (
            "huge-binary.error.toml",
            (0..4 * 1024 * 1024u32)
                .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
                .collect(),
        ),
    ]
}

#[test]
fn generated_huge_and_deep_files_fail_with_a_location_and_never_panic() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let mut complaints = Vec::new();
    for (name, bytes) in generated() {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap_or_else(|e| panic!("write {name}: {e}"));
        let expect = expectation(name).unwrap_or_else(|| panic!("{name} has no expectation"));
        complaints.extend(run_both(&path, expect));
    }
    assert!(complaints.is_empty(), "{}", complaints.join("\n\n"));
}

/// `oci:` locations are paths the file's author chooses (absolute ones are
/// allowed, so `..` adds no reach); what makes them harmless is that quayside
/// only ever touches `<dir>/<service>/{oci-layout,index.json,blobs/sha256/<hex>}`
/// and `plan` writes nothing. This runs a plan whose locations climb out of
/// the file's folder and checks that nothing anywhere in the tree changed.
#[test]
fn oci_locations_with_dotdot_plan_without_writing_anything() {
    let root = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let project = root.path().join("a/b/project");
    let etc = root.path().join("etc");
    std::fs::create_dir_all(&project).unwrap_or_else(|e| panic!("mkdir: {e}"));
    std::fs::create_dir_all(&etc).unwrap_or_else(|e| panic!("mkdir: {e}"));
    std::fs::write(etc.join("passwd"), "root:x:0:0\n").unwrap_or_else(|e| panic!("write: {e}"));
    let file = format!(
        "version = 1\n[registries]\nsource = \"oci:../../../etc\"\ntarget = \"oci:../../../etc/..\"\n\
         [policy]\nvulnerability_source = \"none\"\n[services.passwd.releases]\n\"v1.0.0\" = \"sha256:{}\"\n",
        "a".repeat(64)
    );
    std::fs::write(project.join("releases.toml"), &file).unwrap_or_else(|e| panic!("write: {e}"));
    let before = tree(root.path());

    let validate = Quayside::new(&project).args(["validate"]).run();
    assert_eq!(validate.code, 0, "{validate:?}");
    let plan = Quayside::new(&project).args(["plan"]).run();
    assert!(
        plan.code == EXIT_ERROR || plan.code == EXIT_REFUSED,
        "{plan:?}"
    );
    assert!(!plan.stderr.contains("panicked"), "{plan:?}");
    assert!(
        !plan.stdout.contains("root:x") && !plan.stderr.contains("root:x"),
        "file contents leaked: {plan:?}"
    );
    assert_eq!(tree(root.path()), before, "plan changed the file tree");
}

/// Every path under `root` with its size, sorted.
fn tree(root: &Path) -> Vec<(PathBuf, u64)> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.filter_map(Result::ok) {
            let path = entry.path();
            let size = entry.metadata().map(|m| m.len()).unwrap_or_default();
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                stack.push(path.clone());
            }
            out.push((path, size));
        }
    }
    out.sort();
    out
}

/// Caught by this corpus: an invalid tag is the file's text unchecked, and
/// the text and Markdown plans printed it raw, so a pull request could forge
/// lines of its own plan comment (a fake "No changes", closing `</details>`,
/// a bidi override reordering the line). Now hidden characters are escaped
/// and the Markdown code span cannot be closed from inside.
#[test]
fn regression_an_invalid_tag_cannot_forge_lines_in_the_plan() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let forged =
        "v1.0.0\\n\\nNo changes. 0 refused.\\n</details>`` [x](https://example.invalid) ``\\u202e";
    let file = format!(
        "version = 1\n[registries]\nsource = \"oci:dev\"\ntarget = \"oci:prod\"\n[policy]\nvulnerability_source = \"none\"\n\
         [services.gateway.releases]\n\"{forged}\" = \"sha256:{}\"\n",
        "a".repeat(64)
    );
    std::fs::write(dir.path().join("releases.toml"), file).unwrap_or_else(|e| panic!("write: {e}"));

    let text = Quayside::new(dir.path()).args(["plan"]).run();
    assert_eq!(text.code, EXIT_REFUSED, "{text:?}");
    assert!(
        !text.stdout.lines().any(|l| l.starts_with("No changes")),
        "{text:?}"
    );
    assert!(!text.stdout.contains('\u{202e}'), "{text:?}");
    assert!(
        text.stdout
            .contains("v1.0.0\\n\\nNo changes. 0 refused.\\n</details>"),
        "the tag is shown escaped: {text:?}"
    );

    let markdown = Quayside::new(dir.path())
        .args(["plan", "--format", "markdown"])
        .run();
    assert_eq!(markdown.code, EXIT_REFUSED, "{markdown:?}");
    let refusal = markdown
        .stdout
        .lines()
        .find(|l| l.contains("invalid-tag"))
        .unwrap_or_else(|| panic!("no refusal line: {markdown:?}"));
    // The tag's code span is fenced by three backticks (it holds a run of two).
    assert!(
        refusal.contains("``` v1.0.0\\n\\nNo changes. 0 refused.\\n</details>`` [x](https://example.invalid) ``\\u{202e} ```"),
        "{refusal}"
    );
    assert!(!markdown.stdout.contains("\nNo changes"), "{markdown:?}");
    // Inside the code span `</details>` is literal; no line may start with it
    // but the ones closing quayside's own `<details>`.
    let closes = markdown
        .stdout
        .lines()
        .filter(|l| l.trim_start().starts_with("</details>"))
        .count();
    assert_eq!(
        closes,
        markdown.stdout.matches("<details>").count(),
        "a forged </details>: {markdown:?}"
    );
}
