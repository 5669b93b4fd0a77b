//! The JSON form (`--format json`, `--out PLAN.json`), versioned by its
//! `schema` field: the plan's data, with each refusal and warning worded in
//! plain words (`message`, no Markdown). `apply PLAN.json` reads it back as a
//! `plan::SavedPlan`.

use crate::config::model::SourceLocation;
use crate::plan::{
    Action, Code, DeclaredRelease, Finding, Plan, PolicyAction, Refusal, Summary, Warning,
};
use crate::render::words::{self, Style};
use serde::Serialize;

pub fn render(plan: &Plan) -> String {
    let form = PlanForm {
        schema: plan.schema,
        summary: &plan.summary,
        actions: &plan.actions,
        policies: &plan.policies,
        refusals: plan.refusals.iter().map(RefusalForm::of).collect(),
        warnings: plan.warnings.iter().map(WarningForm::of).collect(),
        declared: &plan.declared,
        file: &plan.file,
        base: plan.base.as_deref(),
        revision: plan.revision.as_deref(),
    };
    // Serialising plain data with string keys cannot fail.
    let mut text = serde_json::to_string_pretty(&form).unwrap_or_default();
    text.push('\n');
    text
}

#[derive(Serialize)]
struct PlanForm<'a> {
    schema: u32,
    summary: &'a Summary,
    actions: &'a [Action],
    /// Registry immutability policies to create; absent when none.
    #[serde(skip_serializing_if = "<[PolicyAction]>::is_empty")]
    policies: &'a [PolicyAction],
    refusals: Vec<RefusalForm<'a>>,
    warnings: Vec<WarningForm<'a>>,
    declared: &'a [DeclaredRelease],
    file: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    base: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    revision: Option<&'a str>,
}

#[derive(Serialize)]
struct RefusalForm<'a> {
    code: Code,
    service: &'a str,
    tag: &'a str,
    message: String,
    location: &'a SourceLocation,
    #[serde(skip_serializing_if = "<[Finding]>::is_empty")]
    details: &'a [Finding],
}

impl<'a> RefusalForm<'a> {
    fn of(refusal: &'a Refusal) -> Self {
        RefusalForm {
            code: refusal.code(),
            service: &refusal.service,
            tag: &refusal.tag,
            message: words::refusal(refusal, Style::Plain),
            location: &refusal.location,
            details: &refusal.details,
        }
    }
}

#[derive(Serialize)]
struct WarningForm<'a> {
    code: Code,
    #[serde(skip_serializing_if = "str::is_empty")]
    service: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    tag: Option<&'a str>,
    message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    location: Option<&'a SourceLocation>,
}

impl<'a> WarningForm<'a> {
    fn of(warning: &'a Warning) -> Self {
        WarningForm {
            code: warning.code(),
            service: &warning.service,
            tag: warning.tag.as_deref(),
            message: words::warning(warning),
            location: warning.location.as_ref(),
        }
    }
}
