//! Endpoint ids: opaque, URL-safe and ordered by creation time.

use super::error::{string_newtype_serde, FieldError};
use std::str::FromStr;
use ulid::Ulid;

/// A ULID in its canonical 26-character Crockford base32 form. Sorting ids sorts endpoints by
/// creation time, which is what "newest first" listing relies on.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EndpointId {
    ulid: Ulid,
    text: String,
}

impl EndpointId {
    pub const FIELD: &'static str = "id";

    pub fn from_ulid(ulid: Ulid) -> Self {
        Self {
            ulid,
            text: ulid.to_string(),
        }
    }

    /// Parses an id case-insensitively, as Crockford base32 allows, into its canonical form.
    /// Text that decodes to the same ULID only after a wrap past 128 bits (a first character
    /// above 7) is rejected, so that every id has one spelling apart from letter case.
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let invalid = || {
            FieldError::new(
                Self::FIELD,
                raw,
                "endpoint id must be the 26-character id returned when the endpoint was created",
            )
        };
        let id = Ulid::from_str(raw)
            .map(Self::from_ulid)
            .map_err(|_| invalid())?;
        if !id.as_str().eq_ignore_ascii_case(raw) {
            return Err(invalid());
        }
        Ok(id)
    }

    pub fn ulid(&self) -> Ulid {
        self.ulid
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }
}

string_newtype_serde!(EndpointId);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_id_round_trips_and_normalizes_case() {
        let id = EndpointId::from_ulid(Ulid::from_parts(1_700_000_000_000, 42));
        let lower = id.as_str().to_lowercase();
        assert_eq!(EndpointId::parse(&lower).unwrap(), id);
        assert_eq!(
            EndpointId::parse(id.as_str()).unwrap().as_str(),
            id.as_str()
        );
    }

    #[test]
    fn endpoint_id_orders_by_time() {
        let older = EndpointId::from_ulid(Ulid::from_parts(1, u128::MAX >> 48));
        let newer = EndpointId::from_ulid(Ulid::from_parts(2, 0));
        assert!(older.as_str() < newer.as_str());
    }

    #[test]
    fn endpoint_id_rejects_other_strings() {
        for raw in [
            "",
            "123",
            "../etc/passwd",
            "01HZZZZZZZZZZZZZZZZZZZZZZZZ",
            "ÄÄ",
        ] {
            assert!(EndpointId::parse(raw).is_err(), "{raw}");
        }
    }

    #[test]
    fn endpoint_id_rejects_first_character_above_seven() {
        let id = EndpointId::from_ulid(Ulid::from_parts(1_700_000_000_000, 42));
        for first in ['8', '9', 'A', 'Z', 'z'] {
            let alias = format!("{first}{}", &id.as_str()[1..]);

            assert!(EndpointId::parse(&alias).is_err(), "{alias} was accepted");
        }
    }
}
