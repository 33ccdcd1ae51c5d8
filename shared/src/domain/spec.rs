//! The configuration of an endpoint, parsed from untrusted input in one pass.

use super::bucket::BucketName;
use super::error::{ErrorCollector, FieldError, ValidationErrors};
use super::kms::KmsKeyArn;
use super::mode::AccessMode;
use super::name::{Description, EndpointName};
use super::prefix::Prefix;
use super::region::Region;
use super::role_arn::RoleArn;
use serde::{Deserialize, Serialize};

/// What the connection test and the policies need: where the bucket is and how to reach it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectionSpec {
    pub mode: AccessMode,
    pub role_arn: RoleArn,
    pub bucket: BucketName,
    #[serde(default)]
    pub prefix: Prefix,
    pub region: Region,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kms_key_arn: Option<KmsKeyArn>,
}

/// A connection as a client sends it, before validation.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectionInput {
    pub mode: Option<String>,
    pub role_arn: Option<String>,
    pub bucket: Option<String>,
    pub prefix: Option<String>,
    pub region: Option<String>,
    pub kms_key_arn: Option<String>,
}

impl ConnectionSpec {
    /// Validates every field and the rules between them, returning all errors at once.
    pub fn parse(input: &ConnectionInput) -> Result<Self, ValidationErrors> {
        let mut errors = ErrorCollector::default();
        match Self::collect(input, &mut errors) {
            Some(spec) => errors.finish(|| spec),
            None => Err(errors.into_errors()),
        }
    }

    fn collect(input: &ConnectionInput, errors: &mut ErrorCollector) -> Option<Self> {
        let mode = errors.check(parse_mode(&input.mode));
        let role_arn = errors.check(
            required(
                &input.role_arn,
                RoleArn::FIELD,
                "the ARN of the IAM role the platform assumes",
            )
            .and_then(RoleArn::parse),
        );
        let bucket = errors.check(parse_bucket(&input.bucket));
        let prefix = errors.check(parse_prefix(&input.prefix));
        let region = errors.check(parse_region(&input.region));
        let kms_key_arn = errors.check(parse_kms_key_arn(&input.kms_key_arn));

        if let (Some(role_arn), Some(region)) = (&role_arn, &region) {
            errors.check(check_role_partition(role_arn, region));
        }
        if let (Some(Some(key)), Some(region)) = (&kms_key_arn, &region) {
            errors.check(check_kms_key_location(key, region));
        }

        Some(Self {
            mode: mode?,
            role_arn: role_arn?,
            bucket: bucket?,
            prefix: prefix?,
            region: region?,
            kms_key_arn: kms_key_arn?,
        })
    }
}

fn required<'a>(value: &'a Option<String>, field: &str, hint: &str) -> Result<&'a str, FieldError> {
    match value.as_deref() {
        Some(raw) => Ok(raw),
        None => Err(FieldError::missing(field, hint)),
    }
}

pub(crate) fn parse_mode(raw: &Option<String>) -> Result<AccessMode, FieldError> {
    required(raw, AccessMode::FIELD, "\"read_only\" or \"read_write\"").and_then(AccessMode::parse)
}

pub(crate) fn parse_bucket(raw: &Option<String>) -> Result<BucketName, FieldError> {
    required(raw, BucketName::FIELD, "the name of the S3 bucket").and_then(BucketName::parse)
}

/// Parses an optional prefix, where an absent prefix means the whole bucket.
pub(crate) fn parse_prefix(raw: &Option<String>) -> Result<Prefix, FieldError> {
    Prefix::parse(raw.as_deref().unwrap_or(""))
}

pub(crate) fn parse_region(raw: &Option<String>) -> Result<Region, FieldError> {
    required(
        raw,
        Region::FIELD,
        "the bucket's AWS region, such as \"us-east-1\"",
    )
    .and_then(Region::parse)
}

/// Parses an optional KMS key ARN, where an absent or empty value means no key.
pub(crate) fn parse_kms_key_arn(raw: &Option<String>) -> Result<Option<KmsKeyArn>, FieldError> {
    match raw.as_deref() {
        None | Some("") => Ok(None),
        Some(raw) => KmsKeyArn::parse(raw).map(Some),
    }
}

/// Rejects a role in another partition than the bucket's region, because STS and S3 in one
/// partition cannot reach roles or buckets in another.
fn check_role_partition(role_arn: &RoleArn, region: &Region) -> Result<(), FieldError> {
    if role_arn.partition() == region.partition() {
        return Ok(());
    }
    Err(FieldError::new(
        RoleArn::FIELD,
        role_arn.as_str(),
        format!(
            "role is in partition {} but region {} is in partition {}; use a role ARN starting with arn:{}:",
            role_arn.partition(),
            region,
            region.partition(),
            region.partition()
        ),
    ))
}

/// Rejects a key in another partition or region, because S3 encrypts objects only with keys
/// in the bucket's own region.
pub(crate) fn check_kms_key_location(key: &KmsKeyArn, region: &Region) -> Result<(), FieldError> {
    if key.partition() == region.partition() && key.region() == region.as_str() {
        return Ok(());
    }
    let location = if key.partition() == region.partition() {
        format!(
            "KMS key is in region {} but the bucket is in {}",
            key.region(),
            region
        )
    } else {
        format!(
            "KMS key is in partition {} but region {} is in partition {}",
            key.partition(),
            region,
            region.partition()
        )
    };
    Err(FieldError::new(
        KmsKeyArn::FIELD,
        key.as_str(),
        format!("{location}; use the key that encrypts this bucket, which is always in the bucket's region"),
    ))
}

/// A complete endpoint configuration as the customer saves it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndpointSpec {
    pub name: EndpointName,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<Description>,
    #[serde(flatten)]
    pub connection: ConnectionSpec,
}

/// An endpoint as a client sends it, before validation.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EndpointInput {
    pub name: Option<String>,
    pub description: Option<String>,
    pub mode: Option<String>,
    pub role_arn: Option<String>,
    pub bucket: Option<String>,
    pub prefix: Option<String>,
    pub region: Option<String>,
    pub kms_key_arn: Option<String>,
}

impl EndpointInput {
    pub fn connection(&self) -> ConnectionInput {
        ConnectionInput {
            mode: self.mode.clone(),
            role_arn: self.role_arn.clone(),
            bucket: self.bucket.clone(),
            prefix: self.prefix.clone(),
            region: self.region.clone(),
            kms_key_arn: self.kms_key_arn.clone(),
        }
    }
}

impl EndpointSpec {
    /// Validates every field, returning all errors at once.
    pub fn parse(input: &EndpointInput) -> Result<Self, ValidationErrors> {
        let mut errors = ErrorCollector::default();
        let name = errors.check(
            required(
                &input.name,
                EndpointName::FIELD,
                "a descriptive name of 1 to 100 characters",
            )
            .and_then(EndpointName::parse),
        );
        let description = match input.description.as_deref() {
            None | Some("") => Some(None),
            Some(raw) => errors.check(Description::parse(raw)).map(Some),
        };
        let connection = ConnectionSpec::collect(&input.connection(), &mut errors);

        let (Some(name), Some(description), Some(connection)) = (name, description, connection)
        else {
            return Err(errors.into_errors());
        };
        errors.finish(|| Self {
            name,
            description,
            connection,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn valid_input() -> EndpointInput {
        EndpointInput {
            name: Some("Billing imports".to_owned()),
            description: None,
            mode: Some("read_only".to_owned()),
            role_arn: Some("arn:aws:iam::123456789012:role/Acme-S3-ReadOnly-Role".to_owned()),
            bucket: Some("acme-billing".to_owned()),
            prefix: Some("billing".to_owned()),
            region: Some("eu-west-1".to_owned()),
            kms_key_arn: None,
        }
    }

    fn fields(errors: &ValidationErrors) -> Vec<&str> {
        errors.errors().iter().map(|e| e.field.as_str()).collect()
    }

    #[test]
    fn spec_parses_a_valid_endpoint() {
        let spec = EndpointSpec::parse(&valid_input()).unwrap();
        assert_eq!(spec.connection.prefix.as_str(), "billing/");
        assert_eq!(spec.connection.mode, AccessMode::ReadOnly);
    }

    #[test]
    fn spec_reports_every_invalid_field_at_once() {
        let input = EndpointInput {
            name: Some(" ".to_owned()),
            mode: Some("write".to_owned()),
            role_arn: Some("arn:aws:iam::123456789012:user/alice".to_owned()),
            bucket: Some("Bad_Bucket".to_owned()),
            prefix: Some("a//b".to_owned()),
            region: Some("moon-1".to_owned()),
            ..EndpointInput::default()
        };
        let errors = EndpointSpec::parse(&input).unwrap_err();
        assert_eq!(
            fields(&errors),
            ["name", "mode", "role_arn", "bucket", "prefix", "region"]
        );
    }

    #[test]
    fn spec_reports_missing_required_fields() {
        let errors = EndpointSpec::parse(&EndpointInput::default()).unwrap_err();
        assert_eq!(
            fields(&errors),
            ["name", "mode", "role_arn", "bucket", "region"]
        );
        assert!(errors.errors()[0].message.contains("required"));
    }

    #[test]
    fn spec_rejects_role_in_another_partition() {
        let input = EndpointInput {
            region: Some("cn-north-1".to_owned()),
            ..valid_input()
        };
        let errors = EndpointSpec::parse(&input).unwrap_err();
        assert_eq!(fields(&errors), ["role_arn"]);
        assert!(errors.errors()[0].message.contains("arn:aws-cn:"));
    }

    #[test]
    fn spec_rejects_kms_key_in_another_region() {
        let input = EndpointInput {
            kms_key_arn: Some(
                "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
                    .to_owned(),
            ),
            ..valid_input()
        };
        let errors = EndpointSpec::parse(&input).unwrap_err();
        assert_eq!(fields(&errors), ["kms_key_arn"]);
    }

    #[test]
    fn spec_treats_empty_optional_fields_as_absent() {
        let input = EndpointInput {
            description: Some(String::new()),
            kms_key_arn: Some(String::new()),
            prefix: None,
            ..valid_input()
        };
        let spec = EndpointSpec::parse(&input).unwrap();
        assert_eq!(spec.description, None);
        assert_eq!(spec.connection.kms_key_arn, None);
        assert!(spec.connection.prefix.is_whole_bucket());
    }

    #[test]
    fn spec_round_trips_through_json() {
        let spec = EndpointSpec::parse(&valid_input()).unwrap();
        let json = serde_json::to_string(&spec).unwrap();
        let back: EndpointSpec = serde_json::from_str(&json).unwrap();
        assert_eq!(back, spec);
    }
}
