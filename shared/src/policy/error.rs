//! Errors of policy rendering and of the platform's own configuration.

use crate::domain::{Partition, Region};

/// A policy that cannot be rendered for an otherwise valid request.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// The rendered document is over an IAM size quota.
    #[error(
        "the {document} would be {size} characters, over IAM's limit of {limit}; shorten {field}"
    )]
    TooLarge {
        document: &'static str,
        /// The request field whose length pushed the document over the limit.
        field: &'static str,
        size: usize,
        limit: usize,
    },

    /// The bucket's region is in a partition the platform principal cannot reach.
    #[error(
        "region {region} is in partition {region_partition}, but the platform principal is in partition {principal_partition}; IAM roles can trust only principals of their own partition, so this platform cannot serve buckets in {region}"
    )]
    PartitionMismatch {
        region: Region,
        region_partition: Partition,
        principal_partition: Partition,
    },

    /// A value would reach a policy with a character that IAM reads as a wildcard or variable.
    #[error(
        "{field} {value:?} contains {found:?}, which IAM policies read as a wildcard or policy variable"
    )]
    UnsafeValue {
        field: &'static str,
        value: String,
        found: &'static str,
    },

    #[error("failed to serialize the {document}: {source}")]
    Serialize {
        document: &'static str,
        source: serde_json::Error,
    },
}

impl PolicyError {
    /// Returns the request field the error is about, or `None` for an internal failure.
    pub fn field(&self) -> Option<&'static str> {
        match self {
            Self::TooLarge { field, .. } | Self::UnsafeValue { field, .. } => Some(field),
            Self::PartitionMismatch { .. } => Some(Region::FIELD),
            Self::Serialize { .. } => None,
        }
    }
}

/// An invalid platform configuration, raised once when the service starts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlatformConfigError {
    #[error("invalid platform principal ARN {value:?}: {reason}; use an IAM role ARN (arn:aws:iam::123456789012:role/Name), user ARN (arn:aws:iam::123456789012:user/Name) or account root (arn:aws:iam::123456789012:root)")]
    InvalidPrincipal { value: String, reason: String },

    #[error("invalid platform name {value:?}: {reason}")]
    InvalidPlatformName { value: String, reason: String },
}
