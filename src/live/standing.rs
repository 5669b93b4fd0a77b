//! Where a declared release stands against the target, and so which releases
//! a plan would create: decided here once, for the reads that serve creates
//! (`read` asks the source, `scans` reads the vulnerability scans) and for the
//! planner, which applies the create rules to exactly these releases.

use crate::config::model::Release;
use crate::digest::Digest;
use crate::live::LiveService;

/// A release against what the target holds, before any rule is applied.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Standing<'a> {
    /// The tag is outside the production pattern (why, as the file's checks
    /// word it): refused, never created.
    InvalidTag(&'a str),
    /// The target holds the tag, pointing at this digest.
    Tagged(&'a Digest),
    /// A production tag the target lacks: the plan creates it unless a create
    /// rule refuses it (source, release candidate, signing, vulnerabilities).
    ToCreate,
}

pub fn standing<'a>(release: &'a Release, live: &'a LiveService) -> Standing<'a> {
    if let Err(problem) = &release.tag_check {
        return Standing::InvalidTag(problem);
    }
    match live.declared_tags.get(&release.tag) {
        Some(found) => Standing::Tagged(found),
        None => Standing::ToCreate,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::model::SourceLocation;

    fn release(tag: &str) -> Release {
        Release {
            tag: tag.into(),
            tag_check: crate::config::tag::check_release_tag(tag, &["rc".into()]),
            digest: Digest::of_bytes(b"image"),
            location: SourceLocation {
                file: "releases.toml".into(),
                line: 1,
                column: 1,
            },
        }
    }

    #[test]
    fn only_a_valid_tag_the_target_lacks_is_to_create() {
        let mut live = LiveService::default();
        let other = Digest::of_bytes(b"other");
        live.declared_tags.insert("v1.0.0".into(), other.clone());
        live.declared_tags.insert("latest".into(), other.clone());
        assert_eq!(
            standing(&release("v1.0.0"), &live),
            Standing::Tagged(&other)
        );
        assert_eq!(standing(&release("v1.1.0"), &live), Standing::ToCreate);
        // An invalid tag is refused whether or not the target holds it.
        assert!(matches!(
            standing(&release("latest"), &live),
            Standing::InvalidTag(_)
        ));
    }
}
