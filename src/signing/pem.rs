//! PEM (RFC 7468) as key files hold it: one `-----BEGIN <label>-----` block
//! of base64. Encapsulated headers (`Proc-Type:`, OpenSSL's legacy
//! encryption) are refused with what to do instead.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;

/// The label and DER bytes of the one PEM block in `text`.
pub(crate) fn decode(text: &[u8]) -> Result<(String, Vec<u8>), String> {
    let text = std::str::from_utf8(text.trim_ascii()).map_err(|_| "not UTF-8 text".to_string())?;
    let rest = text
        .strip_prefix("-----BEGIN ")
        .ok_or_else(|| "no `-----BEGIN` line".to_string())?;
    let (label, body) = rest
        .split_once("-----")
        .ok_or_else(|| "the BEGIN line does not end with `-----`".to_string())?;
    let end = format!("-----END {label}-----");
    let (body, after) = body
        .split_once(&end)
        .ok_or_else(|| format!("no `{end}` line"))?;
    if !after.trim().is_empty() {
        return Err(format!("text after `{end}`"));
    }
    if body.contains(':') {
        return Err(
            "encapsulated headers (OpenSSL's legacy encryption); decrypt the key first (`openssl ec -in KEY -out PLAIN.key`)"
                .to_string(),
        );
    }
    let base64: String = body.split_ascii_whitespace().collect();
    let der = BASE64
        .decode(base64)
        .map_err(|error| format!("the body is not base64 ({error})"))?;
    Ok((label.to_string(), der))
}

/// A PEM block with 64-character lines and a final newline.
pub(crate) fn encode(label: &str, der: &[u8]) -> String {
    let base64 = BASE64.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in base64.as_bytes().chunks(64) {
        // Base64 is ASCII, so every chunk is valid UTF-8.
        out.push_str(std::str::from_utf8(line).unwrap_or_default());
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_long_documents() {
        let der: Vec<u8> = (0..=255u8).cycle().take(300).collect();
        let pem = encode("PUBLIC KEY", &der);
        assert!(pem.lines().all(|line| line.len() <= 64));
        assert_eq!(decode(pem.as_bytes()).unwrap(), ("PUBLIC KEY".into(), der));
    }

    #[test]
    fn says_what_is_wrong() {
        assert!(decode(b"hello").unwrap_err().contains("BEGIN"));
        let unterminated = "-----BEGIN PUBLIC KEY-----\nAAAA\n";
        assert!(decode(unterminated.as_bytes()).unwrap_err().contains("END"));
        let legacy = "-----BEGIN EC PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nAAAA\n-----END EC PRIVATE KEY-----\n";
        assert!(decode(legacy.as_bytes()).unwrap_err().contains("openssl"));
        let two = format!("{}{}", encode("A", b"x"), encode("A", b"y"));
        assert!(decode(two.as_bytes()).unwrap_err().contains("after"));
        let bad = "-----BEGIN A-----\n!!!!\n-----END A-----\n";
        assert!(decode(bad.as_bytes()).unwrap_err().contains("base64"));
    }
}
