//! One test per validation rule: the code, where it points, and that the
//! message shows the offending text.

use super::*;
use crate::config::location::RepositoryLocation;
use crate::config::model::{KeySource, Severity, SignatureFormat, TagGrammar, VulnerabilitySource};
use crate::config::services::is_service_name;
use std::path::PathBuf;

const D1: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";

fn check(text: &str) -> Result<Desired, Diagnostics> {
    validate(text, "releases.toml", Path::new("/repo"), Tags::Keep)
}

/// `(code, line, column)` of every diagnostic.
fn problems(text: &str) -> Vec<(&'static str, u32, u32)> {
    match check(text) {
        Ok(_) => Vec::new(),
        Err(diags) => diags
            .items
            .iter()
            .map(|d| (d.code, d.location.line, d.location.column))
            .collect(),
    }
}

fn only(text: &str) -> Diagnostic {
    match check(text) {
        Ok(_) => panic!("expected exactly one problem, got none"),
        Err(mut diags) if diags.items.len() == 1 => diags.items.remove(0),
        Err(diags) => panic!("expected exactly one problem, got {diags:#?}"),
    }
}

/// The file is refused and the secret appears nowhere in what is printed:
/// not in the messages, nor in the source excerpts.
fn assert_hidden(text: &str, secret: &str) {
    let Err(diags) = check(text) else {
        panic!("a file with a secret in it must be refused")
    };
    let shown = format!("{diags}\n{:?}", diags.items);
    assert!(!shown.contains(secret), "{secret} leaked:\n{shown}");
}

fn with_header(body: &str) -> String {
    format!(
        "version = 1\n[registries]\nsource = \"quay.io/dev\"\ntarget = \"quay.io/prod\"\n{body}"
    )
}

#[test]
fn minimal_file_is_valid() {
    let desired = check(&with_header(&format!(
        "[services.gateway.releases]\n\"v1.0.0\" = \"{D1}\"\n"
    )));
    let Ok(desired) = desired else {
        panic!("{desired:?}")
    };
    assert_eq!(desired.policy, Policy::default());
    assert!(desired.signing.is_none());
    let service = &desired.services[0];
    assert_eq!(service.source.reference(), "quay.io/dev/gateway");
    assert_eq!(service.target.reference(), "quay.io/prod/gateway");
    assert_eq!((service.location.line, service.location.column), (5, 11));
    let release = &service.releases[0];
    assert_eq!((release.location.line, release.location.column), (6, 1));
    assert_eq!(release.digest.as_str(), D1);
    assert!(release.tag_check.is_ok());
}

#[test]
fn unknown_keys_list_the_valid_ones() {
    let d = only(&with_header("[registries2]\n"));
    assert_eq!(
        (d.code, d.location.line, d.location.column),
        ("unknown-key", 5, 2)
    );
    assert!(d.message.contains("`registries2`"));
    let help = d.help.unwrap_or_default();
    assert!(
        help.contains("`version`") && help.contains("`services`"),
        "{help}"
    );

    let text = with_header(
        "[services.gateway]\nsorce = \"x/y\"\n[signing]\nkeys = \"a\"\n[policy]\nblock = 1\n",
    );
    assert_eq!(
        problems(&text),
        [
            ("unknown-key", 6, 1),
            ("unknown-key", 8, 1),
            ("unknown-key", 10, 1)
        ]
    );
}

#[test]
fn wrong_types_say_what_was_expected() {
    let d = only(&with_header("[policy]\nrequire_rc = \"yes\"\n"));
    assert_eq!(
        (d.code, d.location.line, d.location.column),
        ("wrong-type", 6, 14)
    );
    assert_eq!(
        d.message,
        "`policy.require_rc` must be a boolean, not a string"
    );
    assert_eq!(d.width, 5);
    let text = "version = 1\nservices = 3\n[policy]\nprerelease = \"rc\"\nblock_severities = [1]\n";
    assert_eq!(
        problems(text),
        [
            ("wrong-type", 2, 12),
            ("wrong-type", 4, 14),
            ("wrong-type", 5, 21)
        ]
    );
}

#[test]
fn version_is_required_and_must_be_one() {
    let d = only("[registries]\nsource = \"a.io/x\"\ntarget = \"a.io/y\"\n");
    assert_eq!(
        (d.code, d.location.line, d.location.column),
        ("missing-version", 1, 1)
    );
    let d = only("version = 2\n");
    assert_eq!(
        (d.code, d.location.line, d.location.column),
        ("unsupported-version", 1, 11)
    );
    assert!(d.message.contains("`2`"));
    assert_eq!(only("version = \"1\"\n").code, "wrong-type");
    assert!(check("version = 0x1\n").is_ok());
    assert!(check("").is_err());
}

#[test]
fn registry_locations_are_parsed() {
    let text = "version = 1\n[registries]\nsource = \"ftp://x/y\"\ntarget = \"quay.io\"\n";
    assert_eq!(
        problems(text),
        [("invalid-location", 3, 10), ("invalid-location", 4, 10)]
    );
    let with_password = "version = 1\n[registries]\nsource = \"https://me:hunter2@quay.io/x\"\ntarget = \"quay.io/y\"\n";
    assert_eq!(only(with_password).code, "invalid-location");
    assert_hidden(with_password, "hunter2");
}

#[test]
fn service_overrides_and_defaults() {
    let text = "version = 1\n[services.gateway]\nsource = \"oci:dev/gw\"\ntarget = \"http://127.0.0.1:5001/prod/gw\"\n";
    let Ok(desired) = check(text) else {
        panic!("valid overrides refused")
    };
    let gateway = &desired.services[0];
    assert_eq!(gateway.source.reference(), "oci:dev/gw");
    assert!(
        matches!(&gateway.source, RepositoryLocation::Layout { dir, .. } if dir == Path::new("/repo/dev/gw"))
    );
    assert_eq!(gateway.target.reference(), "127.0.0.1:5001/prod/gw");

    let d = only("version = 1\n[services.gateway]\nsource = \"quay.io/x\"\n");
    assert_eq!(
        (d.code, d.location.line, d.location.column),
        ("missing-location", 2, 11)
    );
    assert!(d.message.contains("no target repository"));
    let bad =
        "version = 1\n[registries]\ntarget = \"a.io/p\"\n[services.gateway]\nsource = \"nope\"\n";
    assert_eq!(problems(bad), [("invalid-location", 5, 10)]);
}

#[test]
fn service_names_are_single_lowercase_components() {
    for good in ["gateway", "data-storage", "a.b", "a__b", "a--b", "x9", "0"] {
        assert!(is_service_name(good), "{good}");
    }
    for bad in [
        "", "Gateway", "a/b", "..", "a..b", "-a", "a-", "a___b", "a._b", "gаteway", "a b", "ä",
    ] {
        assert!(!is_service_name(bad), "{bad:?}");
    }
    let d = only(&with_header("[services.\"../etc\"]\n"));
    assert_eq!(
        (d.code, d.location.line, d.location.column),
        ("invalid-service-name", 5, 11)
    );
    assert!(d.message.contains("`../etc`"));
}

#[test]
fn digests_must_be_sha256_lowercase_hex() {
    let text = with_header(&format!(
        "[services.gateway.releases]\n\"v1.0.0\" = \"sha256:abc\"\n\"v1.0.1\" = \"sha256:{}\"\n\"v1.0.2\" = 5\n",
        "A".repeat(64)
    ));
    assert_eq!(
        problems(&text),
        [
            ("invalid-digest", 6, 12),
            ("invalid-digest", 7, 12),
            ("wrong-type", 8, 12)
        ]
    );
}

#[test]
fn unquoted_dotted_tag_gets_a_hint() {
    let d = only(&with_header(&format!(
        "[services.gateway.releases]\nv1.0.0 = \"{D1}\"\n"
    )));
    assert_eq!(
        (d.code, d.location.line, d.location.column),
        ("unquoted-tag", 6, 1)
    );
    assert_eq!(d.width, "v1.0.0".len());
    assert!(d.message.contains("`v1.0.0`"), "{}", d.message);
}

#[test]
fn duplicate_tags_are_reported_with_other_problems() {
    let text = with_header(&format!(
        "colour = 1\n[services.gateway.releases]\n\"v1.0.0\" = \"{D1}\"\n'v1.0.0' = \"{D1}\"\n"
    ));
    assert_eq!(
        problems(&text),
        [("unknown-key", 5, 1), ("duplicate-key", 8, 1)]
    );
}

#[test]
fn source_equal_to_target_is_refused() {
    let d = only(&with_header(
        "[services.gateway]\ntarget = \"quay.io/dev/gateway\"\n",
    ));
    assert_eq!(
        (d.code, d.location.line, d.location.column),
        ("source-is-target", 6, 10)
    );
    // Equal defaults are reported once, at [registries], not once per service.
    let text = "version = 1\n[registries]\nsource = \"Quay.io/x\"\ntarget = \"https://quay.io/x\"\n[services.a]\n[services.b]\n";
    assert_eq!(problems(text), [("source-is-target", 4, 10)]);
    let layouts = "version = 1\n[services.a]\nsource = \"oci:x/./a\"\ntarget = \"oci:x/a\"\n";
    assert_eq!(problems(layouts), [("source-is-target", 4, 10)]);
}

#[test]
fn policy_is_read_with_defaults() {
    let text = with_header(
        "[policy]\nprerelease = [\"alpha\", \"alpha\"]\nrequire_rc = true\nblock_severities = [\"LOW\", \"critical\"]\nvulnerability_source = \"none\"\nquay_api = \"https://quay.example.com/\"\n",
    );
    let Ok(desired) = check(&text) else {
        panic!("valid policy refused")
    };
    let policy = desired.policy;
    assert_eq!(policy.prerelease, ["alpha"]);
    assert!(policy.require_rc);
    assert_eq!(policy.block_severities, [Severity::Low, Severity::Critical]);
    assert_eq!(policy.vulnerability_source, VulnerabilitySource::None);
    assert_eq!(policy.quay_api.as_deref(), Some("https://quay.example.com"));
}

#[test]
fn policy_values_are_checked() {
    let text = with_header(
        "[policy]\nprerelease = [\"RC\", \"beta-2\"]\nblock_severities = [\"severe\"]\nvulnerability_source = \"trivy\"\nquay_api = \"quay.io\"\n",
    );
    assert_eq!(
        problems(&text),
        [
            ("invalid-prerelease", 6, 15),
            ("invalid-prerelease", 6, 21),
            ("invalid-severity", 7, 21),
            ("invalid-vulnerability-source", 8, 24),
            ("invalid-url", 9, 12),
        ]
    );
    let d = only(&with_header(
        "[policy]\nquay_api = \"https://quay.io/api/v1\"\n",
    ));
    assert!(d.help.unwrap_or_default().contains("\"https://quay.io\""));
    assert_hidden(
        &with_header("[policy]\nquay_api = \"https://bot:s3cret@quay.io\"\n"),
        "s3cret",
    );
    assert_hidden(
        &with_header("[policy]\nquay_api = \"https://quay.io?access_token=s3cret\"\n"),
        "s3cret",
    );
}

#[test]
fn waivers_are_checked() {
    let ok = with_header(
        "[[policy.waivers]]\nid = \"CVE-1\"\nservice = \"gateway\"\nreason = \"r\"\nexpires = 2027-01-31\n[services.gateway]\n",
    );
    let Ok(desired) = check(&ok) else {
        panic!("valid waiver refused")
    };
    let waiver = &desired.policy.waivers[0];
    assert_eq!(
        waiver.expires.map(|d| d.to_string()).as_deref(),
        Some("2027-01-31")
    );
    assert_eq!(waiver.service.as_deref(), Some("gateway"));
    assert_eq!((waiver.location.line, waiver.location.column), (5, 1));

    let bad = with_header(
        "[[policy.waivers]]\nservice = \"nope\"\nexpires = \"2027-01-31\"\nnote = 1\n[[policy.waivers]]\nid = \"x\"\nreason = \"y\"\nexpires = 2027-01-31T10:00:00Z\n",
    );
    assert_eq!(
        problems(&bad),
        [
            ("missing-key", 5, 1),
            ("missing-key", 5, 1),
            ("unknown-service", 6, 11),
            ("wrong-type", 7, 11),
            ("unknown-key", 8, 1),
            ("invalid-date", 12, 11),
        ]
    );
}

#[test]
fn signing_keys_resolve_from_the_file_folder() {
    let text = with_header("[signing]\nkey = \"keys/cosign.key\"\npublic_key = \"cosign.pub\"\n");
    let Ok(desired) = check(&text) else {
        panic!("valid signing refused")
    };
    let Some(signing) = desired.signing else {
        panic!("signing lost")
    };
    assert_eq!(
        signing.key,
        Some(KeySource::Path(PathBuf::from("/repo/keys/cosign.key")))
    );
    assert_eq!(signing.public_key, Some(PathBuf::from("/repo/cosign.pub")));
    assert_eq!((signing.location.line, signing.location.column), (5, 1));

    let env = with_header("[signing]\nkey = \"env:COSIGN_PRIVATE_KEY\"\n");
    let Ok(desired) = check(&env) else {
        panic!("env key refused")
    };
    assert_eq!(
        desired.signing.and_then(|s| s.key),
        Some(KeySource::Env("COSIGN_PRIVATE_KEY".into()))
    );
    assert_eq!(
        problems(&with_header("[signing]\nkey = \"env:\"\n")),
        [("invalid-signing-key", 6, 7)]
    );
    let pasted = with_header(
        "[signing]\nkey = \"-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\\nTOPSECRET\"\n",
    );
    assert_eq!(only(&pasted).code, "invalid-signing-key");
    assert_hidden(&pasted, "TOPSECRET");
}

#[test]
fn invalid_tags_are_kept_for_the_planner() {
    let text = with_header(&format!(
        "[services.gateway.releases]\n\"latest\" = \"{D1}\"\n"
    ));
    let Ok(desired) = check(&text) else {
        panic!("an invalid tag must not fail parsing")
    };
    let release = &desired.services[0].releases[0];
    assert_eq!(release.tag, "latest");
    assert!(release.tag_check.is_err());
    let diags = crate::config::tag_diagnostics(&desired);
    assert_eq!(diags.len(), 1);
    assert_eq!((diags[0].code, diags[0].location.line), ("invalid-tag", 6));

    // `validate` reports them with every other problem, in file order.
    let strict = format!("colour = 1\n{text}");
    let Err(all) = validate(&strict, "releases.toml", Path::new("/repo"), Tags::Report) else {
        panic!("invalid tag accepted by validate")
    };
    assert_eq!(all.codes(), ["unknown-key", "invalid-tag"]);
}

#[test]
fn services_and_releases_keep_file_order() {
    let text = with_header(&format!(
        "[services.zeta.releases]\n\"v2.0.0\" = \"{D1}\"\n\"v1.0.0\" = \"{D1}\"\n[services.alpha]\n[services.mid]\n"
    ));
    let Ok(desired) = check(&text) else {
        panic!("valid file refused")
    };
    let names: Vec<&str> = desired.services.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["zeta", "alpha", "mid"]);
    let tags: Vec<&str> = desired.services[0]
        .releases
        .iter()
        .map(|r| r.tag.as_str())
        .collect();
    assert_eq!(tags, ["v2.0.0", "v1.0.0"]);
}

#[test]
fn the_semver_grammar_is_chosen_in_policy() {
    let text = with_header(
        "[policy]\ntag_grammar = \"semver\"\nrequire_v = false\n[services.a.releases]\n\"v1.30.0-rc.1\" = \"sha256:0000000000000000000000000000000000000000000000000000000000000000\"\n\"1.30.0-alpha.0\" = \"sha256:0000000000000000000000000000000000000000000000000000000000000000\"\n",
    );
    let Ok(desired) = check(&text) else {
        panic!("a SemVer file refused")
    };
    assert_eq!(
        desired.policy.tag_grammar,
        TagGrammar::Semver { require_v: false }
    );
    assert_eq!(desired.policy.prerelease, ["alpha", "beta", "rc"]);
    let releases = &desired.services[0].releases;
    assert!(releases.iter().all(|r| r.tag_check.is_ok()), "{releases:?}");
}

#[test]
fn tag_grammar_values_are_checked() {
    let text = with_header("[policy]\ntag_grammar = \"calver\"\n");
    assert_eq!(problems(&text), [("invalid-tag-grammar", 6, 15)]);
    let text = with_header("[policy]\nrequire_v = false\n");
    assert_eq!(problems(&text), [("invalid-policy", 6, 13)]);
}

#[test]
fn refused_tags_name_the_grammar_and_the_fix() {
    let dd = with_header(
        "[services.a.releases]\n\"v1.30.0-rc.1\" = \"sha256:0000000000000000000000000000000000000000000000000000000000000000\"\n",
    );
    let release = &check(&dd).unwrap().services[0].releases[0];
    let problem = release.tag_check.as_ref().unwrap_err();
    assert!(
        problem.contains("under tag_grammar \"dd-registry\" (the default)"),
        "{problem}"
    );
    assert!(
        problem.contains("set tag_grammar = \"semver\" in [policy]"),
        "{problem}"
    );

    let semver = with_header(
        "[policy]\ntag_grammar = \"semver\"\n[services.a.releases]\n\"v1.30.0-rc1\" = \"sha256:0000000000000000000000000000000000000000000000000000000000000000\"\n",
    );
    let release = &check(&semver).unwrap().services[0].releases[0];
    let problem = release.tag_check.as_ref().unwrap_err();
    assert!(
        problem.contains("under tag_grammar \"semver\""),
        "{problem}"
    );
    assert!(problem.contains("write `v1.30.0-rc.1`"), "{problem}");
}

#[test]
fn signature_formats_default_to_both_and_are_checked() {
    let signing = |text: &str| match check(&with_header(text)) {
        Ok(desired) => desired.signing.expect("a [signing] table"),
        Err(diags) => panic!("valid signing refused: {diags}"),
    };
    // Both by default since issue 17 (legacy only before).
    assert_eq!(
        signing("[signing]\npublic_key = \"cosign.pub\"\n").formats,
        [SignatureFormat::Legacy, SignatureFormat::Bundle]
    );
    assert_eq!(
        signing("[signing]\nformats = [\"legacy\"]\n").formats,
        [SignatureFormat::Legacy]
    );
    assert_eq!(
        signing("[signing]\nformats = [\"bundle\"]\n").formats,
        [SignatureFormat::Bundle]
    );
    assert_eq!(
        signing("[signing]\nformats = [\"bundle\", \"legacy\", \"bundle\"]\n").formats,
        [SignatureFormat::Legacy, SignatureFormat::Bundle]
    );
    assert_eq!(
        problems(&with_header("[signing]\nformats = [\"legacy\", \"v3\"]\n")),
        [("invalid-signature-format", 6, 22)]
    );
    assert_eq!(
        problems(&with_header("[signing]\nformats = []\n")),
        [("invalid-signature-format", 6, 11)]
    );
    let d = only(&with_header("[signing]\nformats = \"legacy\"\n"));
    assert_eq!((d.location.line, d.location.column), (6, 11));
}
