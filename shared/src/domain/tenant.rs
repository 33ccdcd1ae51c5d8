//! The platform account (tenant) that owns endpoints.

use super::error::{string_newtype_serde, FieldError};

const MAX_LEN: usize = 128;

/// A tenant id taken from the authorizer context. It becomes part of DynamoDB keys, so it is
/// limited to characters that never collide with the `#` key separator.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TenantId(String);

impl TenantId {
    pub const FIELD: &'static str = "tenant";

    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        if raw.is_empty() || raw.len() > MAX_LEN {
            return Err(FieldError::new(
                Self::FIELD,
                raw,
                format!("tenant id must be 1 to {MAX_LEN} characters"),
            ));
        }
        if !raw.bytes().all(is_tenant_byte) {
            return Err(FieldError::new(
                Self::FIELD,
                raw,
                "tenant id may contain only letters, digits and _ . : @ | + = -",
            ));
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn is_tenant_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || b"_.:@|+=-".contains(&byte)
}

string_newtype_serde!(TenantId);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_id_accepts_typical_claims() {
        for raw in ["acme", "org_123", "auth0|5f7c", "tenant-01.eu"] {
            assert!(TenantId::parse(raw).is_ok(), "{raw}");
        }
    }

    #[test]
    fn tenant_id_rejects_key_separator_and_empty() {
        for raw in ["", "a#b", "a b", "ä", &"x".repeat(129)] {
            assert!(TenantId::parse(raw).is_err(), "{raw}");
        }
    }
}
