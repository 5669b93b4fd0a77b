//! The JSON form (`--format json`, `--out PLAN.json`): the serde form of
//! `Plan`, versioned by its `schema` field.

use crate::plan::Plan;

pub fn render(plan: &Plan) -> String {
    // Serialising plain data with string keys cannot fail.
    let mut text = serde_json::to_string_pretty(plan).unwrap_or_default();
    text.push('\n');
    text
}
