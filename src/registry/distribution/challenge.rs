//! `WWW-Authenticate` challenges (RFC 9110 11.6.1) as registries send them:
//! `Basic realm="…"` or `Bearer realm="…",service="…",scope="…"`.

use std::collections::HashMap;

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Challenge {
    Basic,
    Bearer {
        realm: String,
        service: Option<String>,
        scope: Option<String>,
    },
}

/// The first challenge we understand, `None` if there is none.
pub(crate) fn parse(header: &str) -> Option<Challenge> {
    let header = header.trim();
    let (scheme, rest) = header
        .split_once(|c: char| c.is_ascii_whitespace())
        .unwrap_or((header, ""));
    let params = parse_params(rest);
    if scheme.eq_ignore_ascii_case("basic") {
        Some(Challenge::Basic)
    } else if scheme.eq_ignore_ascii_case("bearer") {
        Some(Challenge::Bearer {
            realm: params.get("realm")?.clone(),
            service: params.get("service").cloned(),
            scope: params.get("scope").cloned(),
        })
    } else {
        None
    }
}

/// `key=value` or `key="quoted, value"` pairs separated by commas; quoted
/// values may hold commas (`scope="repository:a:pull,push"`) and `\"`.
fn parse_params(text: &str) -> HashMap<String, String> {
    let mut params = HashMap::new();
    let mut chars = text.chars().peekable();
    loop {
        while chars
            .peek()
            .is_some_and(|c| c.is_ascii_whitespace() || *c == ',')
        {
            chars.next();
        }
        let key: String = chars
            .by_ref()
            .take_while(|c| *c != '=')
            .collect::<String>()
            .trim()
            .to_ascii_lowercase();
        if key.is_empty() {
            return params;
        }
        let mut value = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => value.extend(chars.next()),
                    '"' => break,
                    other => value.push(other),
                }
            }
        } else {
            while let Some(c) = chars.peek().copied() {
                if c == ',' {
                    break;
                }
                value.push(c);
                chars.next();
            }
            value = value.trim().to_string();
        }
        params.insert(key, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_bearer_challenge_with_commas_in_scope() {
        let challenge = parse(
            r#"Bearer realm="https://quay.io/v2/auth",service="quay.io",scope="repository:a/b:pull,push""#,
        );
        assert_eq!(
            challenge,
            Some(Challenge::Bearer {
                realm: "https://quay.io/v2/auth".into(),
                service: Some("quay.io".into()),
                scope: Some("repository:a/b:pull,push".into()),
            })
        );
    }

    #[test]
    fn reads_basic_unquoted_and_refuses_unknown() {
        assert_eq!(parse(r#"Basic realm="basic""#), Some(Challenge::Basic));
        assert_eq!(
            parse("bearer realm=http://x/token, service=x"),
            Some(Challenge::Bearer {
                realm: "http://x/token".into(),
                service: Some("x".into()),
                scope: None,
            })
        );
        assert_eq!(parse("Bearer service=x"), None);
        assert_eq!(parse("Negotiate abc"), None);
        assert_eq!(parse(""), None);
    }
}
