//! A parsed scan: what Quay's security API says about each platform manifest
//! of an image. Parsing is pure; fetching is `quay`'s job.

use crate::config::model::Severity;
use crate::digest::Digest;
use serde::Deserialize;

/// The scan of one image (a single manifest, or every platform of an index).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ImageScan {
    /// No scan can be read for this image at all (e.g. the source is an
    /// `oci:` layout, or its path is not a Quay `namespace/repository`).
    Unavailable { reason: String },
    /// One entry per platform manifest (one entry for a single manifest).
    Platforms(Vec<PlatformScan>),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlatformScan {
    /// `os/arch[/variant]` from the index; `None` for a single manifest.
    pub platform: Option<String>,
    pub digest: Digest,
    pub status: ScanStatus,
}

impl PlatformScan {
    /// How a finding or status names this platform to a person.
    pub fn label(&self) -> String {
        match &self.platform {
            Some(platform) => platform.clone(),
            None => format!("single-platform image {}", self.digest.short()),
        }
    }
}

/// Quay's verdict for one manifest. Only `Scanned` carries data; every other
/// status means "no data", which is never treated as clean.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ScanStatus {
    Scanned(Vec<Vulnerability>),
    Queued,
    Failed,
    Unsupported,
    /// `manifest_layer_too_large`, or any status this version does not know.
    Other(String),
    /// `scanned` without data, the API answered 404, or Quay could not read
    /// the report from its scanner (HTTP 520).
    Absent(String),
}

impl ScanStatus {
    /// Why no vulnerability data is available, or `None` when scanned.
    pub fn unavailable_reason(&self) -> Option<String> {
        match self {
            ScanStatus::Scanned(_) => None,
            ScanStatus::Queued => Some("the scan is still queued".into()),
            ScanStatus::Failed => Some("the scan failed".into()),
            ScanStatus::Unsupported => Some("Quay reports the manifest as unsupported".into()),
            ScanStatus::Other(status) => Some(format!("Quay reports status `{status}`")),
            ScanStatus::Absent(why) => Some(why.clone()),
        }
    }
}

/// One vulnerability of one installed package.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Vulnerability {
    /// The advisory name Quay reports (`CVE-2024-1234`, `RHSA-…`).
    pub id: String,
    pub severity: Severity,
    pub package: String,
    pub installed: String,
    /// `None` when no fixed version exists yet.
    pub fixed: Option<String>,
    pub link: Option<String>,
}

#[derive(Deserialize)]
struct SecurityBody {
    status: Option<String>,
    data: Option<Data>,
}

#[derive(Deserialize)]
struct Data {
    #[serde(rename = "Layer")]
    layer: Option<Layer>,
}

#[derive(Deserialize)]
struct Layer {
    #[serde(rename = "Features", default)]
    features: Option<Vec<Feature>>,
}

#[derive(Deserialize)]
struct Feature {
    #[serde(rename = "Name", default)]
    name: String,
    #[serde(rename = "Version", default)]
    version: String,
    #[serde(rename = "Vulnerabilities", default)]
    vulnerabilities: Option<Vec<RawVulnerability>>,
}

#[derive(Deserialize)]
struct RawVulnerability {
    #[serde(rename = "Name", default)]
    name: String,
    #[serde(rename = "Severity", default)]
    severity: String,
    #[serde(rename = "FixedBy", default)]
    fixed_by: Option<String>,
    #[serde(rename = "Link", default)]
    link: Option<String>,
}

/// Parses the body of `GET …/manifest/{digest}/security?vulnerabilities=true`.
/// `Err` says what is wrong with a body that is not Quay's JSON.
pub fn parse_security(body: &[u8]) -> Result<ScanStatus, String> {
    let parsed: SecurityBody = serde_json::from_slice(body)
        .map_err(|error| format!("the answer is not Quay's security JSON: {error}"))?;
    let status = parsed
        .status
        .ok_or("the answer has no `status` field")?
        .to_ascii_lowercase();
    Ok(match status.as_str() {
        "scanned" => {
            let Some(layer) = parsed.data.and_then(|data| data.layer) else {
                return Ok(ScanStatus::Absent(
                    "Quay reports the manifest scanned but returned no data".into(),
                ));
            };
            let mut found = Vec::new();
            for feature in layer.features.unwrap_or_default() {
                for raw in feature.vulnerabilities.unwrap_or_default() {
                    found.push(Vulnerability {
                        id: raw.name,
                        severity: severity(&raw.severity),
                        package: feature.name.clone(),
                        installed: feature.version.clone(),
                        fixed: raw.fixed_by.filter(|fixed| !fixed.trim().is_empty()),
                        link: raw.link.filter(|link| !link.trim().is_empty()),
                    });
                }
            }
            found.sort();
            found.dedup();
            ScanStatus::Scanned(found)
        }
        "queued" => ScanStatus::Queued,
        "failed" => ScanStatus::Failed,
        "unsupported" => ScanStatus::Unsupported,
        _ => ScanStatus::Other(status),
    })
}

/// Quay's severity names. Clair's historical `Defcon1` is above critical;
/// an unrecognised name is `Unknown` (which `block_severities` can block).
fn severity(name: &str) -> Severity {
    if name.eq_ignore_ascii_case("defcon1") {
        return Severity::Critical;
    }
    Severity::ALL
        .into_iter()
        .find(|severity| severity.name().eq_ignore_ascii_case(name))
        .unwrap_or(Severity::Unknown)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scanned_body_lists_every_vulnerability_of_every_package() {
        let body = br#"{"status":"scanned","data":{"Layer":{"Name":"x","Features":[
            {"Name":"openssl","Version":"3.0.2-0ubuntu1","Vulnerabilities":[
                {"Severity":"High","Name":"CVE-2024-0001","FixedBy":"3.0.2-0ubuntu1.10","Link":"https://example.invalid/1"},
                {"Severity":"Low","Name":"CVE-2024-0002","FixedBy":""}]},
            {"Name":"zlib","Version":"1.2.11","Vulnerabilities":[
                {"Severity":"Defcon1","Name":"CVE-2024-0003"}]},
            {"Name":"bash","Version":"5.1"}]}}}"#;
        let ScanStatus::Scanned(found) = parse_security(body).unwrap() else {
            panic!("expected scanned");
        };
        assert_eq!(found.len(), 3);
        let high = found.iter().find(|v| v.id == "CVE-2024-0001").unwrap();
        assert_eq!(high.severity, Severity::High);
        assert_eq!(high.package, "openssl");
        assert_eq!(high.installed, "3.0.2-0ubuntu1");
        assert_eq!(high.fixed.as_deref(), Some("3.0.2-0ubuntu1.10"));
        let low = found.iter().find(|v| v.id == "CVE-2024-0002").unwrap();
        assert_eq!(low.fixed, None, "an empty FixedBy means no fix");
        let defcon = found.iter().find(|v| v.id == "CVE-2024-0003").unwrap();
        assert_eq!(defcon.severity, Severity::Critical);
    }

    #[test]
    fn statuses_without_data_are_never_clean() {
        for (status, expected) in [
            ("queued", ScanStatus::Queued),
            ("failed", ScanStatus::Failed),
            ("unsupported", ScanStatus::Unsupported),
            (
                "manifest_layer_too_large",
                ScanStatus::Other("manifest_layer_too_large".into()),
            ),
        ] {
            let body = format!(r#"{{"status":"{status}","data":null}}"#);
            let parsed = parse_security(body.as_bytes()).unwrap();
            assert_eq!(parsed, expected);
            assert!(parsed.unavailable_reason().is_some());
        }
        let empty = parse_security(br#"{"status":"scanned","data":null}"#).unwrap();
        assert!(matches!(empty, ScanStatus::Absent(_)));
    }

    #[test]
    fn a_clean_scan_has_no_vulnerabilities() {
        let body = br#"{"status":"scanned","data":{"Layer":{"Features":[{"Name":"bash","Version":"5.1","Vulnerabilities":[]}]}}}"#;
        assert_eq!(parse_security(body).unwrap(), ScanStatus::Scanned(vec![]));
    }

    #[test]
    fn bodies_that_are_not_quay_json_are_errors() {
        assert!(parse_security(b"<html>not found</html>").is_err());
        assert!(parse_security(br#"{"data":{}}"#).is_err());
    }
}
