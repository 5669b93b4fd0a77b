//! Keys: PKCS#8 PEM and cosign's encrypted format (scrypt + nacl secretbox).

use crate::digest::Digest;
use crate::signing::SignatureEntry;
use secrecy::SecretString;

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("{0}")]
    Invalid(String),
}

pub struct SigningKey {}
#[derive(Clone, Debug)]
pub struct PublicKey {}

impl SigningKey {
    pub fn from_pem(_pem: &[u8], _password: Option<&SecretString>) -> Result<Self, KeyError> {
        todo!()
    }
    pub fn sign(&self, _payload: &[u8]) -> String {
        todo!()
    }
    pub fn public_key(&self) -> PublicKey {
        todo!()
    }
}

impl PublicKey {
    pub fn from_pem(_pem: &[u8]) -> Result<Self, KeyError> {
        todo!()
    }
    /// True when `entry` is a valid signature by this key over a payload that
    /// names `digest` and the repository `identity`.
    pub fn accepts(&self, _entry: &SignatureEntry, _digest: &Digest, _identity: &str) -> bool {
        todo!()
    }
}
