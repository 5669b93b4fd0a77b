//! The `index.json` of an OCI image layout as a document: its tags
//! (`org.opencontainers.image.ref.name` annotations on descriptors) and the
//! edit that points a tag at a manifest. Pure: reading and writing the file is
//! the caller's business. Fields this tool does not know are kept as they are.

use crate::digest::Digest;
use crate::registry::manifest::OCI_INDEX;
use serde_json::{Map, Value, json};

/// The annotation naming a tag in a layout (image-spec `image-layout.md`).
pub const REF_NAME: &str = "org.opencontainers.image.ref.name";

/// What `oci-layout` must hold.
pub const OCI_LAYOUT_CONTENT: &[u8] = br#"{"imageLayoutVersion":"1.0.0"}"#;

/// A parsed `index.json`.
#[derive(Clone, Debug, PartialEq)]
pub struct LayoutIndex {
    document: Map<String, Value>,
}

/// A tagged descriptor as the index holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaggedManifest {
    pub tag: String,
    pub digest: Digest,
    pub media_type: Option<String>,
}

impl LayoutIndex {
    /// An index with no manifests, as written on a layout's first write.
    pub fn empty() -> Self {
        let Value::Object(document) = json!({
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": [],
        }) else {
            unreachable!("json! of an object literal is an object")
        };
        LayoutIndex { document }
    }

    /// Parses the file's bytes. The message names line and column and is
    /// meant to follow the file's path.
    pub fn parse(bytes: &[u8]) -> Result<Self, String> {
        let value: Value = serde_json::from_slice(bytes)
            .map_err(|error| format!("{}:{}: {error}", error.line(), error.column()))?;
        let Value::Object(document) = value else {
            return Err("1:1: the document is not a JSON object".into());
        };
        match document.get("manifests") {
            None | Some(Value::Array(_)) => Ok(LayoutIndex { document }),
            Some(_) => Err("`manifests` is not an array".into()),
        }
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        // Pretty and newline-terminated: layouts get committed to git (the
        // quickstart) and reviewed in diffs.
        let mut bytes = serde_json::to_vec_pretty(&self.document)
            .unwrap_or_else(|_| unreachable!("a JSON map always serialises"));
        bytes.push(b'\n');
        bytes
    }

    fn descriptors(&self) -> impl Iterator<Item = &Map<String, Value>> {
        self.document
            .get("manifests")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_object)
    }

    /// Every tagged descriptor whose digest is well formed, in file order,
    /// each tag once (the first occurrence wins, as in `resolve`).
    pub fn tagged(&self) -> Vec<TaggedManifest> {
        let mut seen = std::collections::HashSet::new();
        self.descriptors()
            .filter_map(|descriptor| {
                let tag = ref_name(descriptor)?;
                let digest = descriptor_digest(descriptor)?;
                Some(TaggedManifest {
                    tag: tag.to_string(),
                    digest,
                    media_type: media_type(descriptor),
                })
            })
            .filter(|tagged| seen.insert(tagged.tag.clone()))
            .collect()
    }

    pub fn resolve(&self, tag: &str) -> Option<TaggedManifest> {
        self.tagged().into_iter().find(|tagged| tagged.tag == tag)
    }

    /// The media type some descriptor of the index gives `digest`, if any.
    pub fn media_type_of(&self, digest: &Digest) -> Option<String> {
        self.descriptors()
            .filter(|descriptor| descriptor_digest(descriptor).as_ref() == Some(digest))
            .find_map(media_type)
    }

    /// Points `tag` at a manifest. An existing descriptor for the tag is
    /// replaced where it stands (so the file order stays stable) and any
    /// duplicate of it is dropped.
    pub fn set_tag(&mut self, tag: &str, digest: &Digest, media_type: &str, size: u64) {
        let descriptor = json!({
            "mediaType": media_type,
            "digest": digest.as_str(),
            "size": size,
            "annotations": { REF_NAME: tag },
        });
        let manifests = self
            .document
            .entry("manifests")
            .or_insert_with(|| Value::Array(Vec::new()));
        if !manifests.is_array() {
            *manifests = Value::Array(Vec::new());
        }
        let Value::Array(list) = manifests else {
            unreachable!("just made an array")
        };
        let is_this_tag = |value: &Value| value.as_object().and_then(ref_name) == Some(tag);
        match list.iter().position(is_this_tag) {
            Some(first) => {
                list[first] = descriptor;
                let mut index = 0;
                list.retain(|value| {
                    let keep = index <= first || !is_this_tag(value);
                    index += 1;
                    keep
                });
            }
            None => list.push(descriptor),
        }
    }
}

fn ref_name(descriptor: &Map<String, Value>) -> Option<&str> {
    descriptor
        .get("annotations")?
        .as_object()?
        .get(REF_NAME)?
        .as_str()
}

fn descriptor_digest(descriptor: &Map<String, Value>) -> Option<Digest> {
    Digest::parse(descriptor.get("digest")?.as_str()?).ok()
}

fn media_type(descriptor: &Map<String, Value>) -> Option<String> {
    descriptor
        .get("mediaType")
        .and_then(Value::as_str)
        .filter(|text| !text.is_empty())
        .map(str::to_string)
}

/// A tag as the distribution spec allows it; anything else could not be
/// copied to a registry later.
pub fn is_valid_tag(tag: &str) -> bool {
    let bytes = tag.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 128
        && (bytes[0].is_ascii_alphanumeric() || bytes[0] == b'_')
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::manifest::OCI_MANIFEST;

    fn digest(c: char) -> Digest {
        Digest::parse(&format!("sha256:{}", c.to_string().repeat(64))).unwrap()
    }

    #[test]
    fn set_tag_adds_then_replaces_in_place() {
        let mut index = LayoutIndex::empty();
        index.set_tag("dev", &digest('a'), OCI_INDEX, 10);
        index.set_tag("v1", &digest('b'), OCI_MANIFEST, 20);
        index.set_tag("dev", &digest('c'), OCI_INDEX, 30);
        let tags: Vec<_> = index
            .tagged()
            .into_iter()
            .map(|t| (t.tag, t.digest))
            .collect();
        assert_eq!(
            tags,
            vec![
                ("dev".to_string(), digest('c')),
                ("v1".to_string(), digest('b'))
            ]
        );
        let reparsed = LayoutIndex::parse(&index.to_bytes()).unwrap();
        assert_eq!(reparsed, index);
    }

    #[test]
    fn keeps_unknown_fields_and_untagged_descriptors() {
        let text = format!(
            r#"{{"schemaVersion":2,"annotations":{{"x":"y"}},"manifests":[
                {{"mediaType":"{OCI_MANIFEST}","digest":"{}","size":1}},
                {{"digest":"{}","size":2,"annotations":{{"{REF_NAME}":"old"}}}}]}}"#,
            digest('a'),
            digest('b')
        );
        let mut index = LayoutIndex::parse(text.as_bytes()).unwrap();
        assert_eq!(index.resolve("old").unwrap().media_type, None);
        assert_eq!(
            index.media_type_of(&digest('a')).as_deref(),
            Some(OCI_MANIFEST)
        );
        index.set_tag("new", &digest('c'), OCI_MANIFEST, 3);
        let written = String::from_utf8(index.to_bytes()).unwrap();
        assert!(written.contains(r#""x": "y""#));
        assert_eq!(
            LayoutIndex::parse(written.as_bytes())
                .unwrap()
                .tagged()
                .len(),
            2
        );
        assert!(written.contains(digest('a').as_str()));
    }

    #[test]
    fn duplicate_tags_collapse_to_the_first_and_set_tag_removes_the_rest() {
        let text = format!(
            r#"{{"manifests":[
                {{"digest":"{a}","annotations":{{"{REF_NAME}":"dev"}}}},
                {{"digest":"{b}","annotations":{{"{REF_NAME}":"dev"}}}}]}}"#,
            a = digest('a'),
            b = digest('b')
        );
        let mut index = LayoutIndex::parse(text.as_bytes()).unwrap();
        assert_eq!(index.resolve("dev").unwrap().digest, digest('a'));
        index.set_tag("dev", &digest('c'), OCI_INDEX, 1);
        let tagged = index.tagged();
        assert_eq!(tagged.len(), 1);
        assert_eq!(tagged[0].digest, digest('c'));
        assert_eq!(
            LayoutIndex::parse(&index.to_bytes())
                .unwrap()
                .tagged()
                .len(),
            1
        );
    }

    #[test]
    fn parse_errors_carry_line_and_column() {
        let error = LayoutIndex::parse(b"{\n  \"manifests\": [,]\n}").unwrap_err();
        assert!(error.starts_with("2:"), "{error}");
        assert!(LayoutIndex::parse(b"[]").is_err());
        assert!(LayoutIndex::parse(br#"{"manifests":{}}"#).is_err());
    }

    #[test]
    fn tag_grammar_follows_the_distribution_spec() {
        assert!(is_valid_tag("v1.0.0-rc1"));
        assert!(is_valid_tag("sha256-abc.sig"));
        assert!(is_valid_tag("_x"));
        assert!(!is_valid_tag(""));
        assert!(!is_valid_tag("-x"));
        assert!(!is_valid_tag("a/b"));
        assert!(!is_valid_tag(&"a".repeat(129)));
    }
}
