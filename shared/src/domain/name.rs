//! The customer's name and description for an endpoint.

use super::error::{is_hidden_format, string_newtype_serde, FieldError};

const MAX_NAME_CHARS: usize = 100;
const MAX_DESCRIPTION_CHARS: usize = 1_000;

/// An endpoint name: 1 to 100 characters after trimming, with no control characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EndpointName(String);

impl EndpointName {
    pub const FIELD: &'static str = "name";

    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let trimmed = raw.trim();
        let chars = trimmed.chars().count();
        if chars == 0 || chars > MAX_NAME_CHARS {
            return Err(FieldError::new(
                Self::FIELD,
                raw,
                format!(
                    "name must be 1 to {MAX_NAME_CHARS} characters after trimming spaces; got {chars}"
                ),
            ));
        }
        if trimmed
            .chars()
            .any(|c| c.is_control() || is_hidden_format(c))
        {
            return Err(FieldError::new(
                Self::FIELD,
                raw,
                "name must not contain control characters such as tabs or line breaks, or \
                 invisible or direction-changing characters such as U+200B or U+202E",
            ));
        }
        Ok(Self(trimmed.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Returns the form under which names are unique per tenant: "Billing" and "billing" are the
    /// same name.
    ///
    /// NOTE: lowercasing is not full Unicode case folding or normalization, so "Straße" and
    /// "STRASSE", or a precomposed and a decomposed "Café", still count as different names.
    pub fn uniqueness_key(&self) -> String {
        self.0.to_lowercase()
    }
}

string_newtype_serde!(EndpointName);

/// Optional free text of at most 1,000 characters; line breaks and tabs are kept, other control
/// characters are rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Description(String);

impl Description {
    pub const FIELD: &'static str = "description";

    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let chars = raw.chars().count();
        if chars > MAX_DESCRIPTION_CHARS {
            return Err(FieldError::new(
                Self::FIELD,
                raw,
                format!(
                    "description must be at most {MAX_DESCRIPTION_CHARS} characters; got {chars}"
                ),
            ));
        }
        if raw
            .chars()
            .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
        {
            return Err(FieldError::new(
                Self::FIELD,
                raw,
                "description must not contain control characters other than line breaks and tabs",
            ));
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

string_newtype_serde!(Description);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_rejects_hidden_format_characters() {
        for raw in ["Billing\u{200b} 2026", "\u{202e}evil", "line\u{2028}break"] {
            assert!(EndpointName::parse(raw).is_err(), "{raw:?}");
        }
        assert!(EndpointName::parse("family \u{1f468}\u{200d}\u{1f469}").is_ok());
    }

    #[test]
    fn name_is_trimmed() {
        assert_eq!(
            EndpointName::parse("  Billing exports ").unwrap().as_str(),
            "Billing exports"
        );
    }

    #[test]
    fn name_length_is_counted_in_characters() {
        assert!(EndpointName::parse(&"é".repeat(100)).is_ok());
        assert!(EndpointName::parse(&"é".repeat(101)).is_err());
    }

    #[test]
    fn name_rejects_blank_and_control_characters() {
        for raw in ["", "   ", "a\tb", "line\nbreak", "nul\u{0}"] {
            let error = EndpointName::parse(raw).unwrap_err();
            assert_eq!(error.field, "name", "{raw:?}");
        }
    }

    #[test]
    fn name_uniqueness_ignores_case() {
        let upper = EndpointName::parse("Billing").unwrap();
        let lower = EndpointName::parse("billing").unwrap();
        assert_eq!(upper.uniqueness_key(), lower.uniqueness_key());
    }

    #[test]
    fn description_keeps_line_breaks_and_limits_length() {
        assert!(Description::parse("first line\nsecond\tline").is_ok());
        assert!(Description::parse(&"x".repeat(1_000)).is_ok());
        assert!(Description::parse(&"x".repeat(1_001)).is_err());
        assert!(Description::parse("bell\u{7}").is_err());
    }
}
