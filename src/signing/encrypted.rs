//! cosign's encrypted private key format (from go-tuf's `encrypted` package):
//! the PEM body is JSON
//! `{"kdf":{"name":"scrypt","params":{"N","r","p"},"salt"},"cipher":{"name":"nacl/secretbox","nonce"},"ciphertext"}`
//! with base64 byte strings; scrypt derives a 32-byte key from the password
//! and the secretbox plaintext is the PKCS#8 DER key.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use crypto_secretbox::XSalsa20Poly1305;
use crypto_secretbox::aead::{Aead, KeyInit};
use rand_core::RngCore as _;
use secrecy::zeroize::Zeroizing;
use serde::{Deserialize, Serialize};

const KDF_NAME: &str = "scrypt";
const CIPHER_NAME: &str = "nacl/secretbox";
const KEY_LEN: usize = 32;
const NONCE_LEN: usize = 24;
const SALT_LEN: usize = 32;
/// cosign's parameters: N = 2^15, r = 8, p = 1 (32 MiB, a fraction of a second).
const DEFAULT_LOG_N: u8 = 15;
const DEFAULT_R: u32 = 8;
const DEFAULT_P: u32 = 1;
/// Upper bounds so that a hostile key file cannot make us allocate gigabytes
/// or spin for minutes: memory is 128·N·r bytes, time grows with N·r·p.
const MAX_LOG_N: u8 = 20;
const MAX_R: u32 = 16;
const MAX_P: u32 = 16;

/// Why an encrypted key could not be opened; `keys` turns it into a
/// `KeyError` that names the key's origin.
#[derive(Debug)]
pub(crate) enum EncryptedError {
    Format(String),
    WrongPassword,
}

#[derive(Serialize, Deserialize)]
struct Document {
    kdf: Kdf,
    cipher: Cipher,
    ciphertext: String,
}

#[derive(Serialize, Deserialize)]
struct Kdf {
    name: String,
    params: ScryptParams,
    salt: String,
}

#[derive(Serialize, Deserialize)]
struct ScryptParams {
    #[serde(rename = "N")]
    n: u64,
    r: u32,
    p: u32,
}

#[derive(Serialize, Deserialize)]
struct Cipher {
    name: String,
    nonce: String,
}

/// Opens the JSON document (the PEM body) with `password`; returns the
/// PKCS#8 DER key.
pub(crate) fn decrypt(
    document: &[u8],
    password: &[u8],
) -> Result<Zeroizing<Vec<u8>>, EncryptedError> {
    let document: Document = serde_json::from_slice(document)
        .map_err(|e| EncryptedError::Format(format!("its body is not the expected JSON: {e}")))?;
    if document.kdf.name != KDF_NAME {
        return Err(EncryptedError::Format(format!(
            "key derivation `{}` is not supported, only `{KDF_NAME}`",
            document.kdf.name
        )));
    }
    if document.cipher.name != CIPHER_NAME {
        return Err(EncryptedError::Format(format!(
            "cipher `{}` is not supported, only `{CIPHER_NAME}`",
            document.cipher.name
        )));
    }
    let params = &document.kdf.params;
    if !params.n.is_power_of_two() || params.n < 2 {
        return Err(EncryptedError::Format(format!(
            "scrypt N = {} is not a power of two",
            params.n
        )));
    }
    let log_n = params.n.trailing_zeros() as u8;
    if log_n > MAX_LOG_N || params.r == 0 || params.r > MAX_R || params.p == 0 || params.p > MAX_P {
        return Err(EncryptedError::Format(format!(
            "scrypt parameters N = {}, r = {}, p = {} are beyond the accepted N ≤ 2^{MAX_LOG_N}, r ≤ {MAX_R}, p ≤ {MAX_P}",
            params.n, params.r, params.p
        )));
    }
    let salt = decode_field("kdf.salt", &document.kdf.salt)?;
    let nonce = decode_field("cipher.nonce", &document.cipher.nonce)?;
    if nonce.len() != NONCE_LEN {
        return Err(EncryptedError::Format(format!(
            "cipher.nonce is {} bytes, expected {NONCE_LEN}",
            nonce.len()
        )));
    }
    let ciphertext = decode_field("ciphertext", &document.ciphertext)?;
    let key = derive(password, &salt, log_n, params.r, params.p)?;
    let cipher = XSalsa20Poly1305::new(crypto_secretbox::Key::from_slice(key.as_slice()));
    // The secretbox tag authenticates the ciphertext: a wrong password (or a
    // damaged file) fails here rather than producing garbage.
    let plain = cipher
        .decrypt(
            crypto_secretbox::Nonce::from_slice(&nonce),
            ciphertext.as_slice(),
        )
        .map_err(|_| EncryptedError::WrongPassword)?;
    Ok(Zeroizing::new(plain))
}

/// Seals a PKCS#8 DER key with `password` using cosign's parameters and
/// fresh random salt and nonce; returns the JSON document (the PEM body).
pub(crate) fn encrypt(plain: &[u8], password: &[u8]) -> Result<Vec<u8>, EncryptedError> {
    let mut salt = [0u8; SALT_LEN];
    let mut nonce = [0u8; NONCE_LEN];
    rand_core::OsRng.fill_bytes(&mut salt);
    rand_core::OsRng.fill_bytes(&mut nonce);
    let key = derive(password, &salt, DEFAULT_LOG_N, DEFAULT_R, DEFAULT_P)?;
    let cipher = XSalsa20Poly1305::new(crypto_secretbox::Key::from_slice(key.as_slice()));
    let ciphertext = cipher
        .encrypt(crypto_secretbox::Nonce::from_slice(&nonce), plain)
        .map_err(|_| EncryptedError::Format("secretbox encryption failed".to_string()))?;
    let document = Document {
        kdf: Kdf {
            name: KDF_NAME.to_string(),
            params: ScryptParams {
                n: 1 << DEFAULT_LOG_N,
                r: DEFAULT_R,
                p: DEFAULT_P,
            },
            salt: BASE64.encode(salt),
        },
        cipher: Cipher {
            name: CIPHER_NAME.to_string(),
            nonce: BASE64.encode(nonce),
        },
        ciphertext: BASE64.encode(ciphertext),
    };
    serde_json::to_vec(&document)
        .map_err(|e| EncryptedError::Format(format!("cannot write the key document: {e}")))
}

fn derive(
    password: &[u8],
    salt: &[u8],
    log_n: u8,
    r: u32,
    p: u32,
) -> Result<Zeroizing<[u8; KEY_LEN]>, EncryptedError> {
    let params = scrypt::Params::new(log_n, r, p, KEY_LEN)
        .map_err(|e| EncryptedError::Format(format!("scrypt parameters refused: {e}")))?;
    let mut key = Zeroizing::new([0u8; KEY_LEN]);
    scrypt::scrypt(password, salt, &params, key.as_mut_slice())
        .map_err(|e| EncryptedError::Format(format!("scrypt failed: {e}")))?;
    Ok(key)
}

fn decode_field(name: &str, text: &str) -> Result<Vec<u8>, EncryptedError> {
    BASE64
        .decode(text)
        .map_err(|e| EncryptedError::Format(format!("{name} is not base64: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_a_wrong_password() {
        let document = encrypt(b"pkcs8 bytes", b"right").unwrap();
        assert_eq!(
            decrypt(&document, b"right").unwrap().as_slice(),
            b"pkcs8 bytes"
        );
        assert!(matches!(
            decrypt(&document, b"wrong"),
            Err(EncryptedError::WrongPassword)
        ));
    }

    #[test]
    fn refuses_unknown_algorithms_and_excessive_parameters() {
        let document = String::from_utf8(encrypt(b"k", b"").unwrap()).unwrap();
        for altered in [
            document.replace("\"scrypt\"", "\"argon2\""),
            document.replace("nacl/secretbox", "aes-gcm"),
            document.replace("\"N\":32768", "\"N\":1073741824"),
            document.replace("\"N\":32768", "\"N\":1000"),
            document.replace("\"r\":8", "\"r\":0"),
            "{}".to_string(),
        ] {
            assert!(
                matches!(
                    decrypt(altered.as_bytes(), b""),
                    Err(EncryptedError::Format(_))
                ),
                "accepted {altered}"
            );
        }
    }
}
