//! The few DER shapes of ECDSA P-256 keys that quayside reads and writes:
//! SPKI public keys (`cosign.pub`), PKCS#8 and SEC1 private keys. Not a
//! general ASN.1 codec: definite lengths only, and exactly these structures.
//! ring does the cryptography; it takes PKCS#8 and bare points, so this
//! module only finds them and says precisely what is wrong when it cannot.

const SEQUENCE: u8 = 0x30;
const INTEGER: u8 = 0x02;
const BIT_STRING: u8 = 0x03;
const OCTET_STRING: u8 = 0x04;
const OBJECT_IDENTIFIER: u8 = 0x06;
/// `[0]` and `[1]` of ECPrivateKey: the curve and the public key.
const PARAMETERS: u8 = 0xa0;
const PUBLIC_KEY: u8 = 0xa1;

/// id-ecPublicKey, 1.2.840.10045.2.1.
const EC_PUBLIC_KEY: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
/// prime256v1 (P-256), 1.2.840.10045.3.1.7.
const PRIME256V1: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];

/// An uncompressed P-256 point: `04 || X || Y`.
pub(crate) const POINT_LENGTH: usize = 65;

/// Reads DER elements one after another from a byte slice.
struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    fn new(input: &'a [u8]) -> Self {
        Reader { rest: input }
    }

    fn peek(&self) -> Option<u8> {
        self.rest.first().copied()
    }

    /// The contents of the next element, which must have `tag`.
    fn read(&mut self, tag: u8, what: &str) -> Result<&'a [u8], String> {
        let (&found, after_tag) = self
            .rest
            .split_first()
            .ok_or_else(|| format!("{what} is missing"))?;
        if found != tag {
            return Err(format!("expected {what}, found DER tag 0x{found:02x}"));
        }
        let (length, after_length) = read_length(after_tag, what)?;
        if after_length.len() < length {
            return Err(format!("{what} is cut short"));
        }
        let (contents, rest) = after_length.split_at(length);
        self.rest = rest;
        Ok(contents)
    }

    fn finish(&self, what: &str) -> Result<(), String> {
        match self.rest.is_empty() {
            true => Ok(()),
            false => Err(format!("unexpected bytes after {what}")),
        }
    }
}

/// A DER length: one byte below 128, or 0x81/0x82 and one or two bytes.
fn read_length<'a>(input: &'a [u8], what: &str) -> Result<(usize, &'a [u8]), String> {
    let bad = || format!("{what} has a malformed length");
    match input {
        [short, rest @ ..] if *short < 0x80 => Ok((usize::from(*short), rest)),
        [0x81, length, rest @ ..] if *length >= 0x80 => Ok((usize::from(*length), rest)),
        [0x82, high, low, rest @ ..] if *high != 0 => {
            Ok((usize::from(*high) << 8 | usize::from(*low), rest))
        }
        _ => Err(bad()),
    }
}

/// One DER element.
fn element(tag: u8, contents: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    match contents.len() {
        n if n < 0x80 => out.push(n as u8),
        n if n <= 0xff => out.extend([0x81, n as u8]),
        n => out.extend([0x82, (n >> 8) as u8, n as u8]),
    }
    out.extend_from_slice(contents);
    out
}

/// A reader of the one SEQUENCE that makes up all of `der`.
fn whole_sequence<'a>(der: &'a [u8], what: &str) -> Result<Reader<'a>, String> {
    let mut document = Reader::new(der);
    let contents = document.read(SEQUENCE, what)?;
    document.finish(what)?;
    Ok(Reader::new(contents))
}

fn expect_version(reader: &mut Reader, version: u8, what: &str) -> Result<(), String> {
    match reader.read(INTEGER, what)? {
        [found] if *found == version => Ok(()),
        _ => Err(format!("not {what}")),
    }
}

/// AlgorithmIdentifier { id-ecPublicKey, prime256v1 }.
fn algorithm() -> Vec<u8> {
    let oids = [
        element(OBJECT_IDENTIFIER, EC_PUBLIC_KEY),
        element(OBJECT_IDENTIFIER, PRIME256V1),
    ]
    .concat();
    element(SEQUENCE, &oids)
}

fn check_algorithm(contents: &[u8]) -> Result<(), String> {
    let mut algorithm = Reader::new(contents);
    if algorithm.read(OBJECT_IDENTIFIER, "the key algorithm")? != EC_PUBLIC_KEY {
        return Err("not an elliptic-curve key".to_string());
    }
    if algorithm.read(OBJECT_IDENTIFIER, "the curve")? != PRIME256V1 {
        return Err("an elliptic-curve key on another curve than P-256".to_string());
    }
    algorithm.finish("the key algorithm")
}

/// The uncompressed point of an SPKI `PUBLIC KEY` document.
pub(crate) fn spki_point(der: &[u8]) -> Result<&[u8], String> {
    let mut spki = whole_sequence(der, "the public key")?;
    check_algorithm(spki.read(SEQUENCE, "the key algorithm")?)?;
    let bits = spki.read(BIT_STRING, "the public key bits")?;
    spki.finish("the public key")?;
    match bits {
        [0, point @ ..] if point.len() == POINT_LENGTH && point[0] == 0x04 => Ok(point),
        [0, 0x02 | 0x03, ..] => Err(
            "a compressed point; cosign writes uncompressed ones (`openssl ec -pubin -conv_form uncompressed`)"
                .to_string(),
        ),
        _ => Err("the public key is not a P-256 point".to_string()),
    }
}

/// The SPKI DER of an uncompressed point.
pub(crate) fn spki(point: &[u8]) -> Vec<u8> {
    let bits = [&[0u8][..], point].concat();
    element(
        SEQUENCE,
        &[algorithm(), element(BIT_STRING, &bits)].concat(),
    )
}

/// Checks that a PKCS#8 `PRIVATE KEY` holds a P-256 key with its public key
/// (which ring needs and cosign, Go and OpenSSL always write).
pub(crate) fn check_pkcs8(der: &[u8]) -> Result<(), String> {
    let mut info = whole_sequence(der, "the PKCS#8 private key")?;
    // PKCS#8 v1 is encoded as 0.
    expect_version(&mut info, 0, "PKCS#8 version 1")?;
    check_algorithm(info.read(SEQUENCE, "the key algorithm")?)?;
    check_sec1(info.read(OCTET_STRING, "the private key")?)
}

/// Checks a SEC1 `EC PRIVATE KEY` (ECPrivateKey) the way [`check_pkcs8`]
/// does; the curve, when named, must be P-256.
pub(crate) fn check_sec1(der: &[u8]) -> Result<(), String> {
    let mut key = whole_sequence(der, "the EC private key")?;
    expect_version(&mut key, 1, "EC private key version 1")?;
    key.read(OCTET_STRING, "the private scalar")?;
    if key.peek() == Some(PARAMETERS) {
        let mut curve = Reader::new(key.read(PARAMETERS, "the curve")?);
        if curve.read(OBJECT_IDENTIFIER, "the curve")? != PRIME256V1 {
            return Err("an elliptic-curve key on another curve than P-256".to_string());
        }
    }
    if key.peek() != Some(PUBLIC_KEY) {
        return Err(
            "the key does not carry its public key; re-export it with `openssl ec -in KEY -out NEW.key`"
                .to_string(),
        );
    }
    key.read(PUBLIC_KEY, "the public key")?;
    key.finish("the EC private key")
}

/// PKCS#8 around a SEC1 key, the form ring reads.
pub(crate) fn pkcs8_of_sec1(sec1: &[u8]) -> Vec<u8> {
    let version = element(INTEGER, &[0]);
    let key = element(OCTET_STRING, sec1);
    element(SEQUENCE, &[version, algorithm(), key].concat())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point() -> Vec<u8> {
        let mut point = vec![0x04];
        point.extend(1..=64u8);
        point
    }

    #[test]
    fn spki_round_trips_and_matches_the_fixed_prefix_everyone_writes() {
        let der = spki(&point());
        // The 26-byte header of every P-256 SPKI (Go, OpenSSL, cosign).
        assert_eq!(
            hex::encode(&der[..26]),
            "3059301306072a8648ce3d020106082a8648ce3d030107034200"
        );
        assert_eq!(spki_point(&der).unwrap(), point().as_slice());
    }

    #[test]
    fn refuses_other_keys_and_damage_with_a_reason() {
        let mut compressed = spki(&point());
        compressed[26] = 0x02;
        assert!(spki_point(&compressed).unwrap_err().contains("compressed"));
        let cut = &spki(&point())[..40];
        assert!(spki_point(cut).unwrap_err().contains("cut short"));
        let mut trailing = spki(&point());
        trailing.push(0);
        assert!(spki_point(&trailing).unwrap_err().contains("unexpected"));
        // Ed25519 PKCS#8 (RFC 8410 example).
        let ed25519 =
            base64_decode("MC4CAQAwBQYDK2VwBCIEINTuctv5E1hK1bbY8fdp+K06/nwoy/HU++CXqI9EdVhC");
        assert!(check_pkcs8(&ed25519).is_err());
        assert!(
            read_length(&[0x81, 0x10], "x").is_err(),
            "non-minimal length"
        );
    }

    #[test]
    fn a_sec1_key_without_its_public_key_is_named() {
        let scalar = element(OCTET_STRING, &[7; 32]);
        let bare = element(SEQUENCE, &[element(INTEGER, &[1]), scalar].concat());
        assert!(check_sec1(&bare).unwrap_err().contains("public key"));
    }

    fn base64_decode(text: &str) -> Vec<u8> {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD
            .decode(text)
            .unwrap()
    }
}
