//! The CI recipes in `examples/ci/`, the GitHub Action (`action.yml`) and the
//! GitLab components (`templates/`) parse as YAML and keep the structure the
//! README promises: plan compares with the base over full history and needs
//! no signing key; apply is serialised; verify runs on a schedule; quayside
//! is installed pinned, never built from the repository it runs in.

use crate::quayside::repo_root;
use serde_norway::Value;
use std::io::Write as _;
use std::path::{Path, PathBuf};

fn load(relative: &str) -> Value {
    let path = repo_root().join("examples/ci").join(relative);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|error| panic!("{}: {error}", path.display()));
    serde_norway::from_str(&text).unwrap_or_else(|error| panic!("{}: {error}", path.display()))
}

/// Every `run:` / `script:` line of a document, joined.
fn commands(value: &Value) -> String {
    let mut out = String::new();
    collect(value, &mut out);
    out
}

fn collect(value: &Value, out: &mut String) {
    match value {
        Value::String(text) => {
            out.push_str(text);
            out.push('\n');
        }
        Value::Sequence(items) => items.iter().for_each(|item| collect(item, out)),
        Value::Mapping(map) => map.values().for_each(|item| collect(item, out)),
        _ => {}
    }
}

#[test]
fn every_recipe_is_valid_yaml() {
    let dir = repo_root().join("examples/ci");
    let mut seen = 0;
    for flavour in ["github", "gitlab"] {
        for entry in std::fs::read_dir(dir.join(flavour)).unwrap() {
            let path = entry.unwrap().path();
            let relative = path
                .strip_prefix(&dir)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            assert!(
                load(&relative).is_mapping(),
                "{relative} is not a YAML mapping"
            );
            seen += 1;
        }
    }
    assert_eq!(
        seen,
        6,
        "three recipes for each CI in {}",
        Path::new("examples/ci").display()
    );
}

/// A YAML file of the repository, e.g. `action.yml` or `templates/plan.yml`.
fn load_file(relative: &str) -> Value {
    let path = repo_root().join(relative);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|error| panic!("{}: {error}", path.display()));
    serde_norway::from_str(&text).unwrap_or_else(|error| panic!("{}: {error}", path.display()))
}

/// The step that `uses:` an action whose reference starts with `prefix`.
fn step_using<'a>(steps: &'a Value, prefix: &str) -> &'a Value {
    steps
        .as_sequence()
        .unwrap()
        .iter()
        .find(|step| step["uses"].as_str().is_some_and(|u| u.starts_with(prefix)))
        .unwrap_or_else(|| panic!("a step using {prefix}"))
}

/// The recipe step that uses the quayside action.
fn quayside_step(steps: &Value) -> &Value {
    step_using(steps, "OWNER/quayside@")
}

#[test]
fn github_plan_uses_full_history_and_the_action_without_a_signing_key() {
    let plan = load("github/plan.yml");
    assert!(plan["on"]["pull_request"]["paths"].as_sequence().is_some());
    let steps = &plan["jobs"]["plan"]["steps"];
    let checkout = step_using(steps, "actions/checkout");
    assert_eq!(checkout["with"]["fetch-depth"].as_u64(), Some(0));
    let step = quayside_step(steps);
    assert_eq!(step["with"]["command"].as_str(), Some("plan"));
    assert!(step["with"]["version"].is_string(), "a pinned version");
    assert_eq!(
        plan["permissions"]["pull-requests"].as_str(),
        Some("write"),
        "to post the comment"
    );
    assert!(
        !commands(&plan).contains("COSIGN_PRIVATE_KEY"),
        "PRs get no signing key"
    );
}

#[test]
fn the_action_installs_a_pinned_release_comments_then_fails_on_a_refusal() {
    let action = load_file("action.yml");
    assert_eq!(action["runs"]["using"].as_str(), Some("composite"));
    assert_eq!(
        action["inputs"]["version"]["required"].as_bool(),
        Some(true)
    );
    let steps = action["runs"]["steps"].as_sequence().unwrap();
    let runs: Vec<&str> = steps.iter().map(|s| s["run"].as_str().unwrap()).collect();
    assert!(runs[0].contains("ci/quayside-ci\" install"), "{runs:?}");
    assert!(
        runs[1].contains("ci/quayside-ci\" \"$COMMAND\""),
        "{runs:?}"
    );
    assert!(runs[2].contains("ci/quayside-ci\" comment"), "{runs:?}");
    assert!(runs[3].contains("exit \"$CODE\""), "{runs:?}");
    assert_eq!(
        steps[0]["env"]["QUAYSIDE_SHA256"].as_str(),
        Some("${{ inputs.sha256 }}")
    );
    assert!(
        steps[1]["env"]["QUAYSIDE_BASE"]
            .as_str()
            .is_some_and(|base| base.contains("github.base_ref")),
        "plan compares with the PR's base branch"
    );
    assert_eq!(
        steps[1]["env"]["QUAYSIDE_BEFORE"].as_str(),
        Some("${{ github.event.before }}")
    );
}

#[test]
fn nothing_builds_quayside_from_the_repository_it_runs_in() {
    let mut files = vec!["action.yml".to_string()];
    for dir in ["examples/ci/github", "examples/ci/gitlab", "templates"] {
        for entry in std::fs::read_dir(repo_root().join(dir)).unwrap() {
            let path = entry.unwrap().path();
            files.push(format!(
                "{dir}/{}",
                path.file_name().unwrap().to_string_lossy()
            ));
        }
    }
    for file in files {
        let text = std::fs::read_to_string(repo_root().join(&file)).unwrap();
        assert!(!text.contains("cargo install"), "{file} builds quayside");
        assert!(!text.contains("cargo build"), "{file} builds quayside");
    }
}

#[test]
fn github_apply_is_serialised_and_signs_from_secrets() {
    let apply = load("github/apply.yml");
    assert_eq!(
        apply["concurrency"]["group"].as_str(),
        Some("quayside-apply")
    );
    assert_eq!(
        apply["concurrency"]["cancel-in-progress"].as_bool(),
        Some(false)
    );
    assert_eq!(apply["on"]["push"]["branches"][0].as_str(), Some("main"));
    let all = commands(&apply);
    assert!(all.contains("${{ secrets.COSIGN_PRIVATE_KEY }}"));
    assert!(all.contains("${{ secrets.COSIGN_PASSWORD }}"));
    assert!(all.contains("docker login"));
    let step = quayside_step(&apply["jobs"]["apply"]["steps"]);
    assert_eq!(step["with"]["command"].as_str(), Some("apply"));
}

#[test]
fn github_verify_runs_on_a_schedule() {
    let verify = load("github/verify.yml");
    assert!(verify["on"]["schedule"][0]["cron"].is_string());
    let step = quayside_step(&verify["jobs"]["verify"]["steps"]);
    assert_eq!(step["with"]["command"].as_str(), Some("verify"));
}

/// The job of a GitLab component (the document after its `spec:` header).
fn component_job(file: &str, job: &str) -> Value {
    let path = repo_root().join("templates").join(file);
    let text = std::fs::read_to_string(&path).unwrap();
    let (header, body) = text
        .split_once("\n---\n")
        .unwrap_or_else(|| panic!("{file}: a spec header, then ---"));
    let header: Value = serde_norway::from_str(header).unwrap();
    assert!(
        header["spec"]["inputs"]["image"]["description"].is_string(),
        "{file}: the image input"
    );
    let body: Value = serde_norway::from_str(body).unwrap();
    body[job].clone()
}

#[test]
fn gitlab_components_and_recipes_have_the_same_shape() {
    let job = component_job("plan.yml", "quayside-plan");
    assert_eq!(job["variables"]["GIT_DEPTH"].as_str(), Some("0"));
    assert!(
        job["rules"][0]["if"]
            .as_str()
            .is_some_and(|rule| rule.contains("merge_request_event"))
    );
    let script = commands(&job["script"]);
    assert!(script.contains("quayside-ci plan"));
    assert!(script.contains("quayside-ci comment"));
    assert!(!script.contains("COSIGN_PRIVATE_KEY"));

    let apply = component_job("apply.yml", "quayside-apply");
    assert_eq!(apply["resource_group"].as_str(), Some("quayside-apply"));
    assert_eq!(apply["interruptible"].as_bool(), Some(false));
    assert!(commands(&apply["script"]).contains("quayside-ci apply"));

    let verify = component_job("verify.yml", "quayside-verify");
    assert!(
        verify["rules"][0]["if"]
            .as_str()
            .is_some_and(|rule| rule.contains("schedule"))
    );

    for (recipe, component) in [
        ("gitlab/plan.gitlab-ci.yml", "plan"),
        ("gitlab/apply.gitlab-ci.yml", "apply"),
        ("gitlab/verify.gitlab-ci.yml", "verify"),
    ] {
        let include = &load(recipe)["include"][0];
        assert!(
            include["component"]
                .as_str()
                .is_some_and(|c| c.ends_with(&format!("/quayside/{component}@VERSION"))),
            "{recipe}"
        );
        assert!(include["inputs"]["image"].is_string(), "{recipe}");
    }
}

/// check-jsonschema (PyPI), which `scripts/test` installs into
/// `~/.cache/quayside/check-jsonschema` and names in
/// `QUAYSIDE_CHECK_JSONSCHEMA`; `None` (said once) where it is absent.
fn check_jsonschema() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("QUAYSIDE_CHECK_JSONSCHEMA") {
        let path = PathBuf::from(path);
        assert!(
            path.is_file(),
            "QUAYSIDE_CHECK_JSONSCHEMA={}",
            path.display()
        );
        return Some(path);
    }
    let home = std::env::var_os("HOME")?;
    let path = PathBuf::from(home).join(".cache/quayside/check-jsonschema/bin/check-jsonschema");
    if path.is_file() {
        return Some(path);
    }
    let _ = writeln!(
        std::io::stderr(),
        "\nquayside: the CI schema checks did NOT run: no {} (run `scripts/test`, which installs check-jsonschema).\n",
        path.display()
    );
    None
}

/// Runs check-jsonschema with one of its built-in schemas over `files`.
fn validate(tool: &Path, schema: &str, files: &[PathBuf]) -> Result<(), String> {
    let output = std::process::Command::new(tool)
        .args(["--builtin-schema", schema])
        .args(files)
        .output()
        .unwrap();
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ))
    }
}

fn yaml_files(dir: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(repo_root().join(dir))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .collect();
    files.sort();
    files
}

#[test]
fn workflows_the_action_and_the_components_match_the_ci_schemas() {
    let Some(tool) = check_jsonschema() else {
        return;
    };
    let mut workflows = yaml_files(".github/workflows");
    workflows.extend(yaml_files("examples/ci/github"));
    validate(&tool, "vendor.github-workflows", &workflows).unwrap();
    validate(
        &tool,
        "vendor.github-actions",
        &[repo_root().join("action.yml")],
    )
    .unwrap();

    // A component is two documents (its `spec:` header, then the jobs): the
    // checker reads one per file, so each is checked on its own.
    let scratch = tempfile::tempdir().unwrap();
    let mut gitlab = yaml_files("examples/ci/gitlab");
    for template in yaml_files("templates") {
        let text = std::fs::read_to_string(&template).unwrap();
        let name = template.file_stem().unwrap().to_string_lossy().into_owned();
        for (part, document) in text.split("\n---\n").enumerate() {
            let path = scratch.path().join(format!("{name}-{part}.yml"));
            std::fs::write(&path, document).unwrap();
            gitlab.push(path);
        }
    }
    validate(&tool, "vendor.gitlab-ci", &gitlab).unwrap();

    // And the checker is not a yes-man: a job without `runs-on` fails.
    let broken = scratch.path().join("broken.yml");
    std::fs::write(&broken, "on: push\njobs:\n  a:\n    steps: []\n").unwrap();
    let refused = validate(&tool, "vendor.github-workflows", &[broken]).unwrap_err();
    assert!(
        refused.contains("'runs-on' is a required property"),
        "{refused}"
    );
}
