//! Access modes and the platform features that need them.

use super::error::{string_newtype_serde, FieldError};

/// What the platform may do in the customer's bucket, fixed when the endpoint is created.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AccessMode {
    ReadOnly,
    ReadWrite,
}

impl AccessMode {
    pub const FIELD: &'static str = "mode";
    pub const ALL: [AccessMode; 2] = [AccessMode::ReadOnly, AccessMode::ReadWrite];

    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        match raw {
            "read_only" => Ok(Self::ReadOnly),
            "read_write" => Ok(Self::ReadWrite),
            _ => Err(FieldError::new(
                Self::FIELD,
                raw,
                "mode must be \"read_only\" or \"read_write\"",
            )),
        }
    }

    pub fn as_str(&self) -> &'static str {
        match self {
            Self::ReadOnly => "read_only",
            Self::ReadWrite => "read_write",
        }
    }

    pub fn can_write(&self) -> bool {
        matches!(self, Self::ReadWrite)
    }
}

string_newtype_serde!(AccessMode);

/// A platform feature that uses endpoints. Each feature works with endpoints of one mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Feature {
    /// Telemetry and billing-data imports read the files a customer drops in the bucket.
    Telemetry,
    /// The Data Exporter writes one file a day into the bucket.
    DataExporter,
}

impl Feature {
    pub const FIELD: &'static str = "feature";

    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        match raw {
            "telemetry" => Ok(Self::Telemetry),
            "data_exporter" => Ok(Self::DataExporter),
            _ => Err(FieldError::new(
                Self::FIELD,
                raw,
                "feature must be \"telemetry\" (read_only endpoints) or \"data_exporter\" (read_write endpoints)",
            )),
        }
    }

    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Telemetry => "telemetry",
            Self::DataExporter => "data_exporter",
        }
    }

    pub fn required_mode(&self) -> AccessMode {
        match self {
            Self::Telemetry => AccessMode::ReadOnly,
            Self::DataExporter => AccessMode::ReadWrite,
        }
    }

    /// Returns the features an endpoint of `mode` can serve.
    pub fn served_by(mode: AccessMode) -> Vec<Feature> {
        [Self::Telemetry, Self::DataExporter]
            .into_iter()
            .filter(|feature| feature.required_mode() == mode)
            .collect()
    }
}

string_newtype_serde!(Feature);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mode_parses_only_exact_names() {
        assert_eq!(
            AccessMode::parse("read_only").unwrap(),
            AccessMode::ReadOnly
        );
        assert_eq!(
            AccessMode::parse("read_write").unwrap(),
            AccessMode::ReadWrite
        );
        for raw in ["READ_ONLY", "readonly", "read-write", ""] {
            assert_eq!(AccessMode::parse(raw).unwrap_err().field, "mode");
        }
    }

    #[test]
    fn feature_requires_its_mode() {
        assert_eq!(Feature::Telemetry.required_mode(), AccessMode::ReadOnly);
        assert_eq!(Feature::DataExporter.required_mode(), AccessMode::ReadWrite);
        assert_eq!(
            Feature::served_by(AccessMode::ReadWrite),
            vec![Feature::DataExporter]
        );
    }
}
