//! The CI recipes in `examples/ci/` parse as YAML and keep the structure the
//! README promises: plan compares with the base over full history and needs
//! no signing key; apply is serialised; verify runs on a schedule.

use crate::quayside::repo_root;
use serde_norway::Value;
use std::path::Path;

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

#[test]
fn github_plan_uses_full_history_base_and_no_signing_key() {
    let plan = load("github/plan.yml");
    assert!(plan["on"]["pull_request"]["paths"].as_sequence().is_some());
    let steps = &plan["jobs"]["plan"]["steps"];
    let checkout = steps
        .as_sequence()
        .unwrap()
        .iter()
        .find(|step| {
            step["uses"]
                .as_str()
                .is_some_and(|u| u.starts_with("actions/checkout"))
        })
        .expect("a checkout step");
    assert_eq!(checkout["with"]["fetch-depth"].as_u64(), Some(0));
    let all = commands(&plan);
    assert!(
        all.contains("quayside plan --base \"origin/${{ github.base_ref }}\" --format markdown")
    );
    assert!(
        all.contains("<!-- quayside-plan -->"),
        "the comment is found by its marker"
    );
    assert!(
        !all.contains("COSIGN_PRIVATE_KEY"),
        "PRs get no signing key"
    );
    assert!(all.contains("exit 3"), "the check fails on a refusal");
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
    assert!(all.contains("quayside apply"));
}

#[test]
fn github_verify_runs_on_a_schedule() {
    let verify = load("github/verify.yml");
    assert!(verify["on"]["schedule"][0]["cron"].is_string());
    assert!(commands(&verify).contains("quayside verify"));
}

#[test]
fn gitlab_recipes_have_the_same_shape() {
    let plan = load("gitlab/plan.gitlab-ci.yml");
    let job = &plan["quayside-plan"];
    assert_eq!(job["variables"]["GIT_DEPTH"].as_str(), Some("0"));
    assert!(
        job["rules"][0]["if"]
            .as_str()
            .is_some_and(|rule| rule.contains("merge_request_event"))
    );
    let script = commands(&job["script"]);
    assert!(script.contains("quayside plan --base"));
    assert!(script.contains("<!-- quayside-plan -->"));
    assert!(!commands(&plan).contains("COSIGN_PRIVATE_KEY"));

    let apply = load("gitlab/apply.gitlab-ci.yml");
    assert_eq!(
        apply["quayside-apply"]["resource_group"].as_str(),
        Some("quayside-apply")
    );
    assert!(commands(&apply["quayside-apply"]["script"]).contains("quayside apply"));

    let verify = load("gitlab/verify.gitlab-ci.yml");
    assert!(
        verify["quayside-verify"]["rules"][0]["if"]
            .as_str()
            .is_some_and(|rule| rule.contains("schedule"))
    );
}
