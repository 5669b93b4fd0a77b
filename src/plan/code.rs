//! The stable names of the plan's vocabulary: the refusal and warning codes
//! (SPEC section 4) and the action kinds. Each name is written once, beside
//! its variant; `name()` and the JSON form are both derived from it.
//!
//! A `macro_rules!` table rather than `strum`'s derives: the same "one list"
//! guarantee without three more crates (two of them proc-macros) in a build
//! whose time the README tracks.

/// Declares a fieldless enum from `Variant = "name"` pairs, with `name()` and
/// serde (a plain string, both ways) reading that one table.
macro_rules! named_enum {
    (
        $(#[$meta:meta])*
        pub enum $enum:ident {
            $($(#[$variant_meta:meta])* $variant:ident = $name:literal,)+
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $enum {
            $($(#[$variant_meta])* $variant,)+
        }

        impl $enum {
            pub const ALL: &[$enum] = &[$($enum::$variant,)+];

            pub fn name(self) -> &'static str {
                match self {
                    $($enum::$variant => $name,)+
                }
            }
        }

        impl serde::Serialize for $enum {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.name())
            }
        }

        impl<'de> serde::Deserialize<'de> for $enum {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let name = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
                $enum::ALL
                    .iter()
                    .copied()
                    .find(|value| value.name() == name)
                    .ok_or_else(|| serde::de::Error::unknown_variant(&name, &[$($name),+]))
            }
        }
    };
}

named_enum! {
    /// Why a release is refused, or what a warning is about. Warnings keep
    /// their code when `plan --strict` turns them into refusals. The `key-*`
    /// codes are `validate`'s problems with the key files `[signing]`
    /// names (a plan cannot start without its public key).
    pub enum Code {
        Retag = "retag",
        Unsigned = "unsigned",
        SourceMissing = "source-missing",
        InvalidTag = "invalid-tag",
        Vulnerable = "vulnerable",
        ScanUnavailable = "scan-unavailable",
        Changed = "changed",
        Removed = "removed",
        RcRequired = "rc-required",
        /// `policy.registry_immutability = "require"`: a registry policy
        /// that freezes (or may freeze) cosign's `sha256-*` tags.
        FreezesSignatures = "freezes-signatures",
        /// A warning (a refusal with `--strict`): a target tag the file does
        /// not declare.
        UnmanagedTag = "unmanaged-tag",
        /// A warning: `vulnerability_source = "none"`.
        ScanDisabled = "scan-disabled",
        /// A warning: a `[[policy.waivers]]` entry that matched no blocked
        /// vulnerability.
        UnusedWaiver = "unused-waiver",
        /// A warning: release tags of a target that no registry policy
        /// freezes (apply creates the policy).
        TagsUnprotected = "tags-unprotected",
        /// A warning: the target registry has no immutability API.
        ImmutabilityUnavailable = "immutability-unavailable",
        /// `validate`: a key file `[signing]` names cannot be read (absent).
        KeyMissing = "key-missing",
        /// `validate`: a key file that is not a usable cosign key.
        KeyInvalid = "key-invalid",
        /// `validate`: `key` and `public_key` are not one key pair.
        KeyMismatch = "key-mismatch",
    }
}

named_enum! {
    pub enum ActionKind {
        /// Tag absent: copy by digest, sign, then tag.
        Create = "create",
        /// Tag present with the declared digest, but not validly signed.
        Sign = "sign",
        /// Tag present, declared digest, valid signature.
        Unchanged = "unchanged",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_the_json_form_both_ways() {
        for code in Code::ALL {
            let json = serde_json::to_string(code).unwrap();
            assert_eq!(json, format!("\"{}\"", code.name()));
            assert_eq!(&serde_json::from_str::<Code>(&json).unwrap(), code);
        }
        let kind: ActionKind = serde_json::from_str("\"sign\"").unwrap();
        assert_eq!(kind, ActionKind::Sign);
        assert!(serde_json::from_str::<ActionKind>("\"delete\"").is_err());
    }
}
