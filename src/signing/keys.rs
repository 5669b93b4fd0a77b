//! Keys: ECDSA P-256 (cosign's default) in the PEM forms cosign users hold —
//! PKCS#8, SEC1, and cosign's own encrypted format (scrypt + nacl secretbox,
//! see `encrypted`) — plus signing and verification of simple-signing
//! payloads.

use crate::config::model::KeySource;
use crate::digest::Digest;
use crate::signing::SignatureEntry;
use crate::signing::encrypted::{self, EncryptedError};
use crate::signing::payload::Payload;
use crate::signing::signer::{SignError, Signer};
use crate::signing::{der, pem};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use ring::rand::SystemRandom;
use ring::signature::{
    ECDSA_P256_SHA256_ASN1, ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, KeyPair as _,
    UnparsedPublicKey,
};
use secrecy::zeroize::Zeroizing;
use secrecy::{ExposeSecret, SecretString};
use std::fmt;
use std::path::Path;

/// The variable cosign reads the key password from.
pub const PASSWORD_VARIABLE: &str = "COSIGN_PASSWORD";

/// PEM labels of private keys, as cosign and sigstore write them.
const PKCS8_LABEL: &str = "PRIVATE KEY";
const SEC1_LABEL: &str = "EC PRIVATE KEY";
const SIGSTORE_ENCRYPTED_LABEL: &str = "ENCRYPTED SIGSTORE PRIVATE KEY";
const COSIGN_ENCRYPTED_LABEL: &str = "ENCRYPTED COSIGN PRIVATE KEY";
const PUBLIC_LABEL: &str = "PUBLIC KEY";
const ACCEPTED_PRIVATE: &str = "`ENCRYPTED SIGSTORE PRIVATE KEY`, `ENCRYPTED COSIGN PRIVATE KEY` (cosign generate-key-pair), `PRIVATE KEY` (PKCS#8) or `EC PRIVATE KEY` (SEC1)";

/// A key could not be loaded. `origin` says where it came from (a file, an
/// environment variable); no variant ever carries key material or a password.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("{origin}: cannot read the key: {source}. Check the path in [signing]")]
    Read {
        origin: String,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "environment variable {name} is not set: it must hold the PEM text of the cosign private key (signing.key = \"env:{name}\")"
    )]
    MissingVariable { name: String },
    #[error("{origin} is not valid UTF-8: it must hold PEM text")]
    NotUnicode { origin: String },
    #[error("{origin}: not a PEM key ({reason}); expected a block starting with `-----BEGIN`")]
    NotPem { origin: String, reason: String },
    #[error("{origin}: PEM label `{label}` is not a key quayside can use; expected {expected}")]
    UnsupportedLabel {
        origin: String,
        label: String,
        expected: &'static str,
    },
    #[error(
        "{origin}: this is a public key; signing.key needs the private key (cosign.key), signing.public_key takes the public one"
    )]
    PublicInsteadOfPrivate { origin: String },
    #[error(
        "{origin}: the key is not ECDSA P-256 or is damaged ({reason}); quayside signs with P-256 keys as made by `cosign generate-key-pair`"
    )]
    Malformed { origin: String, reason: String },
    #[error("{origin}: the encrypted key is not in cosign's format: {reason}")]
    EncryptedFormat { origin: String, reason: String },
    #[error(
        "{origin}: cannot decrypt the key: the password is wrong or the key file is damaged. Set {PASSWORD_VARIABLE} to the password given to `cosign generate-key-pair`"
    )]
    WrongPassword { origin: String },
    #[error(
        "{origin} is encrypted and {PASSWORD_VARIABLE} is not set: set it to the password given to `cosign generate-key-pair` (an empty password was tried and does not open it)"
    )]
    PasswordUnset { origin: String },
    #[error("{PASSWORD_VARIABLE} is not valid UTF-8")]
    PasswordNotUnicode,
    #[error(
        "cannot make a key: the operating system's random number generator failed. Check /dev/urandom and try again"
    )]
    Random,
}

impl KeyError {
    /// Why the encrypted key from `origin` could not be opened.
    fn encrypted(error: EncryptedError, origin: &str) -> KeyError {
        match error {
            EncryptedError::Format(reason) => KeyError::EncryptedFormat {
                origin: origin.to_string(),
                reason,
            },
            EncryptedError::WrongPassword => KeyError::WrongPassword {
                origin: origin.to_string(),
            },
        }
    }
}

/// An ECDSA P-256 private key. It never prints itself; the PKCS#8 copy
/// kept for re-encoding is wiped on drop.
pub struct SigningKey {
    pair: EcdsaKeyPair,
    pkcs8: Zeroizing<Vec<u8>>,
}

/// An ECDSA P-256 public key (`cosign.pub`): its uncompressed point, checked
/// to lie on the curve.
#[derive(Clone, PartialEq, Eq)]
pub struct PublicKey {
    point: Vec<u8>,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SigningKey(<redacted>)")
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", self.fingerprint())
    }
}

impl SigningKey {
    /// A fresh random key (`generate-key-pair`, the quickstart, tests).
    pub fn generate() -> Result<Self, KeyError> {
        let document =
            EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &SystemRandom::new())
                .map_err(|_| KeyError::Random)?;
        Self::from_pkcs8(document.as_ref(), "generated signing key")
    }

    /// Reads a PEM key in any of the accepted forms. `password` is only used
    /// for cosign's encrypted keys; without one, the empty password is tried
    /// (cosign allows keys made with an empty password).
    pub fn from_pem(pem: &[u8], password: Option<&SecretString>) -> Result<Self, KeyError> {
        Self::from_pem_at(pem, password, "signing key")
    }

    /// Loads the key `releases.toml` names, with the password from
    /// `COSIGN_PASSWORD` (unset and empty both open a key made with the
    /// empty password; unset is named in the error when that fails).
    pub fn load(source: &KeySource) -> Result<Self, KeyError> {
        let password = match std::env::var(PASSWORD_VARIABLE) {
            Ok(value) => Some(SecretString::from(value)),
            Err(std::env::VarError::NotPresent) => None,
            Err(std::env::VarError::NotUnicode(_)) => return Err(KeyError::PasswordNotUnicode),
        };
        match source {
            KeySource::Env(name) => {
                let origin = format!("environment variable {name}");
                let value = std::env::var_os(name)
                    .ok_or_else(|| KeyError::MissingVariable { name: name.clone() })?;
                let text =
                    Zeroizing::new(value.into_string().map_err(|_| KeyError::NotUnicode {
                        origin: origin.clone(),
                    })?);
                Self::from_pem_at(text.as_bytes(), password.as_ref(), &origin)
            }
            KeySource::Path(path) => {
                let origin = format!("key file {}", path.display());
                let bytes =
                    Zeroizing::new(std::fs::read(path).map_err(|source| KeyError::Read {
                        origin: origin.clone(),
                        source,
                    })?);
                Self::from_pem_at(&bytes, password.as_ref(), &origin)
            }
        }
    }

    fn from_pem_at(
        pem_bytes: &[u8],
        password: Option<&SecretString>,
        origin: &str,
    ) -> Result<Self, KeyError> {
        let (label, der) = decode_pem(pem_bytes, origin)?;
        let der = Zeroizing::new(der);
        match label.as_str() {
            PKCS8_LABEL => Self::from_pkcs8(&der, origin),
            SEC1_LABEL => {
                der::check_sec1(&der).map_err(|reason| malformed(origin, reason))?;
                Self::from_pkcs8(&Zeroizing::new(der::pkcs8_of_sec1(&der)), origin)
            }
            SIGSTORE_ENCRYPTED_LABEL | COSIGN_ENCRYPTED_LABEL => {
                let empty = SecretString::from(String::new());
                let decrypted =
                    encrypted::decrypt(&der, password.unwrap_or(&empty).expose_secret().as_bytes());
                // An unset password that fails is most likely not a wrong
                // one: say what is missing.
                if password.is_none()
                    && matches!(decrypted, Err(encrypted::EncryptedError::WrongPassword))
                {
                    return Err(KeyError::PasswordUnset {
                        origin: origin.to_string(),
                    });
                }
                let plain = decrypted.map_err(|error| KeyError::encrypted(error, origin))?;
                Self::from_pkcs8(&plain, origin)
            }
            PUBLIC_LABEL => Err(KeyError::PublicInsteadOfPrivate {
                origin: origin.to_string(),
            }),
            _ => Err(KeyError::UnsupportedLabel {
                origin: origin.to_string(),
                label,
                expected: ACCEPTED_PRIVATE,
            }),
        }
    }

    /// The key of a PKCS#8 document, checked first so that a wrong key
    /// type is named rather than rejected by ring without a reason.
    fn from_pkcs8(document: &[u8], origin: &str) -> Result<Self, KeyError> {
        der::check_pkcs8(document).map_err(|reason| malformed(origin, reason))?;
        let pair = EcdsaKeyPair::from_pkcs8(
            &ECDSA_P256_SHA256_ASN1_SIGNING,
            document,
            &SystemRandom::new(),
        )
        .map_err(|rejected| malformed(origin, rejected.to_string()))?;
        Ok(SigningKey {
            pair,
            pkcs8: Zeroizing::new(document.to_vec()),
        })
    }

    /// Base64 of the ASN.1 DER ECDSA P-256/SHA-256 signature over `payload`,
    /// as cosign stores it (ring's nonces are random, as cosign's are).
    pub fn sign(&self, payload: &[u8]) -> Result<String, SignError> {
        let signature =
            self.pair
                .sign(&SystemRandom::new(), payload)
                .map_err(|_| SignError::Failed {
                    signer: "local signing key".to_string(),
                    message: "the operating system's random number generator failed".to_string(),
                    hint: "Check /dev/urandom and run again".to_string(),
                })?;
        Ok(BASE64.encode(signature.as_ref()))
    }

    pub fn public_key(&self) -> PublicKey {
        PublicKey {
            point: self.pair.public_key().as_ref().to_vec(),
        }
    }

    /// The unencrypted PKCS#8 PEM (`PRIVATE KEY`).
    pub fn to_pkcs8_pem(&self) -> Result<SecretString, KeyError> {
        Ok(SecretString::from(pem::encode(PKCS8_LABEL, &self.pkcs8)))
    }

    /// The key encrypted with `password` in cosign's format
    /// (`ENCRYPTED SIGSTORE PRIVATE KEY`), readable by `cosign` and by
    /// [`SigningKey::from_pem`].
    pub fn to_encrypted_pem(&self, password: &SecretString) -> Result<SecretString, KeyError> {
        let document = encrypted::encrypt(&self.pkcs8, password.expose_secret().as_bytes())
            .map_err(|error| KeyError::encrypted(error, "generated signing key"))?;
        Ok(SecretString::from(pem::encode(
            SIGSTORE_ENCRYPTED_LABEL,
            &document,
        )))
    }
}

impl Signer for SigningKey {
    fn sign(&self, payload: &[u8]) -> Result<String, SignError> {
        SigningKey::sign(self, payload)
    }
}

impl PublicKey {
    /// Reads an SPKI `PUBLIC KEY` PEM (`cosign.pub`).
    pub fn from_pem(pem_bytes: &[u8]) -> Result<Self, KeyError> {
        Self::from_pem_at(pem_bytes, "public key")
    }

    pub fn load(path: &Path) -> Result<Self, KeyError> {
        let origin = format!("public key file {}", path.display());
        let bytes = std::fs::read(path).map_err(|source| KeyError::Read {
            origin: origin.clone(),
            source,
        })?;
        Self::from_pem_at(&bytes, &origin)
    }

    fn from_pem_at(pem_bytes: &[u8], origin: &str) -> Result<Self, KeyError> {
        let (label, der) = decode_pem(pem_bytes, origin)?;
        if label != PUBLIC_LABEL {
            return Err(KeyError::UnsupportedLabel {
                origin: origin.to_string(),
                label,
                expected: "`PUBLIC KEY` (cosign.pub)",
            });
        }
        let point = der::spki_point(&der).map_err(|reason| malformed(origin, reason))?;
        if !on_curve(point) {
            return Err(malformed(
                origin,
                "the point is not on the P-256 curve".into(),
            ));
        }
        Ok(PublicKey {
            point: point.to_vec(),
        })
    }

    /// The SPKI PEM, as `cosign.pub` holds it.
    pub fn to_pem(&self) -> Result<String, KeyError> {
        Ok(pem::encode(PUBLIC_LABEL, &der::spki(&self.point)))
    }

    /// `sha256:` of the SPKI DER, a stable name for messages.
    pub fn fingerprint(&self) -> String {
        Digest::of_bytes(&der::spki(&self.point))
            .short()
            .to_string()
    }

    /// True when `signature_b64` is a valid base64 ASN.1 DER signature by this
    /// key over exactly `payload`.
    pub fn verify(&self, payload: &[u8], signature_b64: &str) -> bool {
        let Ok(signature) = BASE64.decode(signature_b64.trim()) else {
            return false;
        };
        UnparsedPublicKey::new(&ECDSA_P256_SHA256_ASN1, &self.point)
            .verify(payload, &signature)
            .is_ok()
    }

    /// True when `entry` is a valid signature by this key over a payload that
    /// names `digest` and the repository `identity`.
    pub fn accepts(&self, entry: &SignatureEntry, digest: &Digest, identity: &str) -> bool {
        self.verify(&entry.payload, &entry.signature)
            && Payload::parse(&entry.payload).is_ok_and(|payload| {
                payload.manifest_digest == *digest && payload.docker_reference == identity
            })
    }
}

fn malformed(origin: &str, reason: String) -> KeyError {
    KeyError::Malformed {
        origin: origin.to_string(),
        reason,
    }
}

/// Whether `point` is a valid P-256 public key. ring checks points only when
/// it uses them; an ECDH agreement with a throw-away key is such a use.
fn on_curve(point: &[u8]) -> bool {
    use ring::agreement::{ECDH_P256, EphemeralPrivateKey, UnparsedPublicKey, agree_ephemeral};
    let Ok(ephemeral) = EphemeralPrivateKey::generate(&ECDH_P256, &SystemRandom::new()) else {
        return false;
    };
    agree_ephemeral(
        ephemeral,
        &UnparsedPublicKey::new(&ECDH_P256, point),
        |_| (),
    )
    .is_ok()
}

/// Splits a PEM document into its label and DER bytes.
fn decode_pem(bytes: &[u8], origin: &str) -> Result<(String, Vec<u8>), KeyError> {
    // Files often end with a newline and variables sometimes start with one.
    let mut trimmed = bytes.trim_ascii();
    // `openssl ecparam -genkey` writes an `EC PARAMETERS` block (the curve
    // name, which the key repeats) before the `EC PRIVATE KEY` block.
    const PARAMETERS_END: &[u8] = b"-----END EC PARAMETERS-----";
    if trimmed.starts_with(b"-----BEGIN EC PARAMETERS-----")
        && let Some(end) = trimmed
            .windows(PARAMETERS_END.len())
            .position(|window| window == PARAMETERS_END)
    {
        trimmed = trimmed[end + PARAMETERS_END.len()..].trim_ascii();
    }
    pem::decode(trimmed).map_err(|reason| KeyError::NotPem {
        origin: origin.to_string(),
        reason,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn password(text: &str) -> SecretString {
        SecretString::from(text.to_string())
    }

    fn entry(key: &SigningKey, identity: &str, digest: &Digest) -> SignatureEntry {
        SignatureEntry::create(key, identity, digest).expect("a local key signs")
    }

    #[test]
    fn reads_pkcs8_and_sec1() {
        let key = SigningKey::generate().unwrap();
        let pkcs8 = key.to_pkcs8_pem().unwrap();
        let loaded = SigningKey::from_pem(pkcs8.expose_secret().as_bytes(), None).unwrap();
        assert_eq!(loaded.public_key(), key.public_key());

        // SEC1 as OpenSSL writes it, made by another implementation.
        use p256::pkcs8::DecodePrivateKey as _;
        let sec1 = p256::SecretKey::from_pkcs8_der(&key.pkcs8)
            .unwrap()
            .to_sec1_pem(p256::pkcs8::LineEnding::LF)
            .unwrap();
        let loaded = SigningKey::from_pem(sec1.as_bytes(), None).unwrap();
        assert_eq!(loaded.public_key(), key.public_key());

        // As `openssl ecparam -name prime256v1 -genkey` writes it.
        let with_parameters = format!(
            "-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n{}",
            sec1.as_str()
        );
        let loaded = SigningKey::from_pem(with_parameters.as_bytes(), None).unwrap();
        assert_eq!(loaded.public_key(), key.public_key());
    }

    #[test]
    fn reads_encrypted_keys_under_both_labels() {
        let key = SigningKey::generate().unwrap();
        let pem = key.to_encrypted_pem(&password("hunter2")).unwrap();
        let pem = pem.expose_secret();
        assert!(pem.starts_with("-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----"));
        let loaded = SigningKey::from_pem(pem.as_bytes(), Some(&password("hunter2"))).unwrap();
        assert_eq!(loaded.public_key(), key.public_key());

        let cosign = pem.replace(SIGSTORE_ENCRYPTED_LABEL, COSIGN_ENCRYPTED_LABEL);
        let loaded = SigningKey::from_pem(cosign.as_bytes(), Some(&password("hunter2"))).unwrap();
        assert_eq!(loaded.public_key(), key.public_key());
    }

    #[test]
    fn a_wrong_password_is_named_and_never_printed() {
        let key = SigningKey::generate().unwrap();
        let pem = key.to_encrypted_pem(&password("right-one")).unwrap();
        let error =
            SigningKey::from_pem(pem.expose_secret().as_bytes(), Some(&password("wrong-one")))
                .unwrap_err();
        assert!(matches!(error, KeyError::WrongPassword { .. }), "{error:?}");
        let message = format!("{error} {error:?}");
        assert!(message.contains(PASSWORD_VARIABLE), "{message}");
        assert!(!message.contains("wrong-one") && !message.contains("right-one"));
        // No password at all: the empty one is tried, and the error says the
        // password is unset rather than wrong.
        let error = SigningKey::from_pem(pem.expose_secret().as_bytes(), None).unwrap_err();
        assert!(matches!(error, KeyError::PasswordUnset { .. }), "{error:?}");
        assert!(
            error.to_string().contains("COSIGN_PASSWORD is not set"),
            "{error}"
        );
    }

    #[test]
    fn an_empty_password_works_without_a_password() {
        let key = SigningKey::generate().unwrap();
        let pem = key.to_encrypted_pem(&password("")).unwrap();
        let loaded = SigningKey::from_pem(pem.expose_secret().as_bytes(), None).unwrap();
        assert_eq!(loaded.public_key(), key.public_key());
    }

    #[test]
    fn refuses_what_is_not_a_private_p256_key() {
        let key = SigningKey::generate().unwrap();
        let public = key.public_key().to_pem().unwrap();
        assert!(matches!(
            SigningKey::from_pem(public.as_bytes(), None),
            Err(KeyError::PublicInsteadOfPrivate { .. })
        ));
        let rsa = "-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----\n";
        assert!(matches!(
            SigningKey::from_pem(rsa.as_bytes(), None),
            Err(KeyError::UnsupportedLabel { .. })
        ));
        assert!(matches!(
            SigningKey::from_pem(b"just some text", None),
            Err(KeyError::NotPem { .. })
        ));
        // A PKCS#8 document that is not an EC key (an Ed25519 one, RFC 8410).
        let ed25519 = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEINTuctv5E1hK1bbY8fdp+K06/nwoy/HU++CXqI9EdVhC\n-----END PRIVATE KEY-----\n";
        assert!(matches!(
            SigningKey::from_pem(ed25519.as_bytes(), None),
            Err(KeyError::Malformed { .. })
        ));
        assert!(matches!(
            PublicKey::from_pem(key.to_pkcs8_pem().unwrap().expose_secret().as_bytes()),
            Err(KeyError::UnsupportedLabel { .. })
        ));
    }

    #[test]
    fn debug_never_shows_the_private_key() {
        let key = SigningKey::generate().unwrap();
        let shown = format!("{key:?}");
        assert_eq!(shown, "SigningKey(<redacted>)");
        assert!(!shown.contains(&BASE64.encode(&key.pkcs8)));
    }

    #[test]
    fn loads_from_files_and_names_missing_sources() {
        let key = SigningKey::generate().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let private = dir.path().join("cosign.key");
        let public = dir.path().join("cosign.pub");
        std::fs::write(&private, key.to_pkcs8_pem().unwrap().expose_secret()).unwrap();
        std::fs::write(&public, key.public_key().to_pem().unwrap()).unwrap();
        let loaded = SigningKey::load(&KeySource::Path(private)).unwrap();
        assert_eq!(loaded.public_key(), PublicKey::load(&public).unwrap());

        let missing = dir.path().join("absent.key");
        let error = SigningKey::load(&KeySource::Path(missing)).unwrap_err();
        assert!(error.to_string().contains("absent.key"), "{error}");
        let error = SigningKey::load(&KeySource::Env("QUAYSIDE_TEST_NEVER_SET_VARIABLE".into()))
            .unwrap_err();
        assert!(matches!(error, KeyError::MissingVariable { .. }), "{error}");
        // A variable that is set but holds no PEM (PATH is always set).
        let error = SigningKey::load(&KeySource::Env("PATH".into())).unwrap_err();
        assert!(
            error.to_string().starts_with("environment variable PATH"),
            "{error}"
        );
    }

    #[test]
    fn signs_and_verifies() {
        let key = SigningKey::generate().unwrap();
        let public = key.public_key();
        let signature = key.sign(b"payload").unwrap();
        assert!(public.verify(b"payload", &signature));
        assert!(!public.verify(b"payloaD", &signature));
        assert!(!public.verify(b"payload", "not base64!"));
        assert!(!public.verify(b"payload", &BASE64.encode(b"not der")));
        assert!(
            !SigningKey::generate()
                .unwrap()
                .public_key()
                .verify(b"payload", &signature)
        );
    }

    #[test]
    fn accepts_only_the_right_digest_identity_and_key() {
        let key = SigningKey::generate().unwrap();
        let digest = Digest::of_bytes(b"image");
        let good = entry(&key, "quay.io/kubernaut/gateway", &digest);
        let public = key.public_key();
        assert!(public.accepts(&good, &digest, "quay.io/kubernaut/gateway"));
        assert!(!public.accepts(
            &good,
            &Digest::of_bytes(b"other"),
            "quay.io/kubernaut/gateway"
        ));
        assert!(!public.accepts(&good, &digest, "quay.io/jordigilh/gateway"));
        assert!(!SigningKey::generate().unwrap().public_key().accepts(
            &good,
            &digest,
            "quay.io/kubernaut/gateway"
        ));
        // A valid signature over something that is not a payload.
        let junk = SignatureEntry {
            payload: Bytes::from_static(b"{}"),
            signature: key.sign(b"{}").unwrap(),
        };
        assert!(!public.accepts(&junk, &digest, "quay.io/kubernaut/gateway"));
    }
}
