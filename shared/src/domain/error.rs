//! Validation errors that name the field, the rejected value and the rule.

use serde::Serialize;
use std::fmt;

/// The longest rejected value echoed back in an error, in characters. Longer values are cut so
/// that an error response never grows with the size of the input.
const MAX_ECHOED_VALUE_CHARS: usize = 200;

/// One invalid field: which one, the value that was rejected, and what a valid value looks like.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub field: String,
    pub value: String,
    pub message: String,
}

impl FieldError {
    /// Builds an error for `field`, echoing at most a bounded prefix of `value`.
    pub fn new(field: &str, value: &str, message: impl Into<String>) -> Self {
        Self {
            field: field.to_owned(),
            value: truncate_for_echo(value),
            message: message.into(),
        }
    }

    /// Builds the error for a required field that was absent or null.
    pub fn missing(field: &str, hint: &str) -> Self {
        Self::new(field, "", format!("{field} is required: {hint}"))
    }

    /// Returns the same error moved under another field name, for nested or renamed inputs.
    pub fn for_field(mut self, field: &str) -> Self {
        self.field = field.to_owned();
        self
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {} (value {:?})",
            self.field, self.message, self.value
        )
    }
}

impl std::error::Error for FieldError {}

/// Every invalid field of one request, so that a client can fix them all in one round.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ValidationErrors(pub Vec<FieldError>);

impl ValidationErrors {
    pub fn errors(&self) -> &[FieldError] {
        &self.0
    }
}

impl From<FieldError> for ValidationErrors {
    fn from(error: FieldError) -> Self {
        Self(vec![error])
    }
}

impl fmt::Display for ValidationErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let messages: Vec<String> = self.0.iter().map(ToString::to_string).collect();
        write!(f, "invalid request: {}", messages.join("; "))
    }
}

impl std::error::Error for ValidationErrors {}

/// Collects field errors while a request is parsed field by field.
#[derive(Debug, Default)]
pub struct ErrorCollector(Vec<FieldError>);

impl ErrorCollector {
    /// Keeps the value of `result`, or records its error and returns `None`.
    pub fn check<T>(&mut self, result: Result<T, FieldError>) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(error) => {
                self.0.push(error);
                None
            }
        }
    }

    pub fn push(&mut self, error: FieldError) {
        self.0.push(error);
    }

    pub fn into_errors(self) -> ValidationErrors {
        ValidationErrors(self.0)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Returns `value` when nothing was recorded, or every recorded error.
    pub fn finish<T>(self, value: impl FnOnce() -> T) -> Result<T, ValidationErrors> {
        if self.0.is_empty() {
            Ok(value())
        } else {
            Err(ValidationErrors(self.0))
        }
    }
}

pub(crate) fn truncate_for_echo(value: &str) -> String {
    if value.chars().count() <= MAX_ECHOED_VALUE_CHARS {
        return value.to_owned();
    }
    let mut cut: String = value.chars().take(MAX_ECHOED_VALUE_CHARS).collect();
    cut.push('…');
    cut
}

/// Implements `Serialize` as the string form and `Deserialize` through `parse`, so stored and
/// received values pass the same validation.
macro_rules! string_newtype_serde {
    ($type:ty) => {
        impl serde::Serialize for $type {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $type {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let raw = String::deserialize(deserializer)?;
                <$type>::parse(&raw).map_err(serde::de::Error::custom)
            }
        }

        impl std::fmt::Display for $type {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

pub(crate) use string_newtype_serde;

/// Returns whether `c` is invisible or changes the order in which text is shown: the soft
/// hyphen, zero-width space, direction marks, embeddings, overrides and isolates, line and
/// paragraph separators, invisible operators and the byte order mark. A name or prefix holding
/// one can look like another (U+200B) or show in another order than it is stored (U+202E).
/// The zero-width joiners U+200C and U+200D are allowed, because some scripts and emoji need
/// them.
pub(crate) fn is_hidden_format(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}'
            | '\u{061C}'
            | '\u{180E}'
            | '\u{200B}'
            | '\u{200E}'..='\u{200F}'
            | '\u{2028}'..='\u{202E}'
            | '\u{2060}'..='\u{2064}'
            | '\u{2066}'..='\u{206F}'
            | '\u{FEFF}'
    )
}
