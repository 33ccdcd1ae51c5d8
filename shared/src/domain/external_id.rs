//! The tenant's External ID, which customers require in their roles' trust policies.

use super::error::{string_newtype_serde, FieldError};
use base64::Engine;

const MIN_LEN: usize = 2;
const MAX_LEN: usize = 1_224;

/// Random bytes in a generated External ID: 192 bits, well above the 128 needed to make it
/// unguessable.
const GENERATED_BYTES: usize = 24;

/// An `sts:ExternalId` value: 2 to 1,224 characters of letters, digits and `_ + = , . @ : / -`.
/// It is not a secret, but it must be unique per tenant and not guessable, which is why the
/// platform generates it rather than letting the tenant choose it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ExternalId(String);

impl ExternalId {
    pub const FIELD: &'static str = "external_id";

    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        if !(MIN_LEN..=MAX_LEN).contains(&raw.len()) {
            return Err(FieldError::new(
                Self::FIELD,
                raw,
                format!("External ID must be {MIN_LEN} to {MAX_LEN} characters"),
            ));
        }
        if !raw
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_+=,.@:/-".contains(&b))
        {
            return Err(FieldError::new(
                Self::FIELD,
                raw,
                "External ID may contain only letters, digits and _ + = , . @ : / -",
            ));
        }
        Ok(Self(raw.to_owned()))
    }

    /// Generates a new External ID from the operating system's secure random source. The
    /// URL-safe base64 alphabet (letters, digits, `-`, `_`) is a subset of what STS accepts.
    pub fn generate() -> Result<Self, getrandom::Error> {
        let mut bytes = [0u8; GENERATED_BYTES];
        getrandom::fill(&mut bytes)?;
        let text = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
        Ok(Self(text))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

string_newtype_serde!(ExternalId);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_external_ids_are_valid_and_distinct() {
        let first = ExternalId::generate().unwrap();
        let second = ExternalId::generate().unwrap();
        assert_ne!(first, second);
        assert_eq!(first.as_str().len(), 32);
        assert_eq!(ExternalId::parse(first.as_str()).unwrap(), first);
    }

    #[test]
    fn external_id_enforces_length_and_characters() {
        assert!(ExternalId::parse("ab").is_ok());
        assert!(ExternalId::parse("a:b/c=d,e.f@g+h_i-j").is_ok());
        assert!(ExternalId::parse(&"x".repeat(1_224)).is_ok());
        for raw in ["a", "", "has space", "semi;colon", &"x".repeat(1_225)] {
            assert!(ExternalId::parse(raw).is_err(), "{raw}");
        }
    }
}
