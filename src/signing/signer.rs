//! The signing seam: apply and the quickstart sign through [`Signer`], so
//! that keyless signing (Fulcio certificate + Rekor entry) or a KMS can be
//! added later without touching them. Today [`SigningKey`] implements it.
//!
//! [`SigningKey`]: crate::signing::SigningKey

/// Signing failed. A local key never fails; remote signers (KMS, keyless)
/// will report here, naming the service and what to do.
#[derive(Debug, thiserror::Error)]
pub enum SignError {
    #[error("{signer}: signing failed: {message}. {hint}")]
    Failed {
        signer: String,
        message: String,
        hint: String,
    },
}

/// Something that produces cosign signatures: base64 of an ASN.1 DER ECDSA
/// signature over exactly `payload`.
pub trait Signer: Send + Sync {
    fn sign(&self, payload: &[u8]) -> Result<String, SignError>;
}
