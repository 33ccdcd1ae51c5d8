//! The request to render policies for, parsed with the same rules as a saved endpoint.

use crate::domain::{
    check_kms_key_location, parse_bucket, parse_kms_key_arn, parse_mode, parse_prefix,
    parse_region, AccessMode, BucketName, ConnectionSpec, ErrorCollector, KmsKeyArn, Prefix,
    Region, ValidationErrors,
};
use serde::{Deserialize, Serialize};

/// A policy request as a client sends it, before validation.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyInput {
    pub mode: Option<String>,
    pub bucket: Option<String>,
    pub prefix: Option<String>,
    pub region: Option<String>,
    pub kms_key_arn: Option<String>,
}

/// A validated policy request: the mode, the bucket and prefix, and the bucket's KMS key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PolicyRequest {
    pub mode: AccessMode,
    pub bucket: BucketName,
    pub prefix: Prefix,
    pub region: Region,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kms_key_arn: Option<KmsKeyArn>,
}

impl PolicyRequest {
    /// Validates every field and the KMS key's location, returning all errors at once.
    pub fn parse(input: &PolicyInput) -> Result<Self, ValidationErrors> {
        let mut errors = ErrorCollector::default();
        let mode = errors.check(parse_mode(&input.mode));
        let bucket = errors.check(parse_bucket(&input.bucket));
        let prefix = errors.check(parse_prefix(&input.prefix));
        let region = errors.check(parse_region(&input.region));
        let kms_key_arn = errors.check(parse_kms_key_arn(&input.kms_key_arn));

        if let (Some(Some(key)), Some(region)) = (&kms_key_arn, &region) {
            errors.check(check_kms_key_location(key, region));
        }

        let (Some(mode), Some(bucket), Some(prefix), Some(region), Some(kms_key_arn)) =
            (mode, bucket, prefix, region, kms_key_arn)
        else {
            return Err(errors.into_errors());
        };
        errors.finish(|| Self {
            mode,
            bucket,
            prefix,
            region,
            kms_key_arn,
        })
    }
}

impl From<&ConnectionSpec> for PolicyRequest {
    fn from(spec: &ConnectionSpec) -> Self {
        Self {
            mode: spec.mode,
            bucket: spec.bucket.clone(),
            prefix: spec.prefix.clone(),
            region: spec.region,
            kms_key_arn: spec.kms_key_arn.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab";

    fn valid_input() -> PolicyInput {
        PolicyInput {
            mode: Some("read_write".to_owned()),
            bucket: Some("acme-billing".to_owned()),
            prefix: Some("/exports/daily".to_owned()),
            region: Some("eu-west-1".to_owned()),
            kms_key_arn: Some(KEY.to_owned()),
        }
    }

    fn fields(errors: &ValidationErrors) -> Vec<&str> {
        errors.errors().iter().map(|e| e.field.as_str()).collect()
    }

    #[test]
    fn request_parses_and_normalizes() {
        let request = PolicyRequest::parse(&valid_input()).unwrap();
        assert_eq!(request.mode, AccessMode::ReadWrite);
        assert_eq!(request.prefix.as_str(), "exports/daily/");
        assert_eq!(request.region.as_str(), "eu-west-1");
        assert_eq!(request.kms_key_arn.unwrap().as_str(), KEY);
    }

    #[test]
    fn request_treats_absent_optional_fields_as_none() {
        let input = PolicyInput {
            prefix: None,
            kms_key_arn: Some(String::new()),
            ..valid_input()
        };
        let request = PolicyRequest::parse(&input).unwrap();
        assert!(request.prefix.is_whole_bucket());
        assert_eq!(request.kms_key_arn, None);
    }

    #[test]
    fn request_reports_every_invalid_field() {
        let input = PolicyInput {
            mode: Some("write".to_owned()),
            bucket: Some("Bad_Bucket".to_owned()),
            prefix: Some("logs/*".to_owned()),
            region: Some("moon-1".to_owned()),
            kms_key_arn: Some("alias/billing".to_owned()),
        };
        let errors = PolicyRequest::parse(&input).unwrap_err();
        assert_eq!(
            fields(&errors),
            ["mode", "bucket", "prefix", "region", "kms_key_arn"]
        );
    }

    #[test]
    fn request_reports_missing_required_fields() {
        let errors = PolicyRequest::parse(&PolicyInput::default()).unwrap_err();
        assert_eq!(fields(&errors), ["mode", "bucket", "region"]);
    }

    #[test]
    fn request_rejects_kms_key_in_another_region() {
        let input = PolicyInput {
            region: Some("eu-central-1".to_owned()),
            ..valid_input()
        };
        let errors = PolicyRequest::parse(&input).unwrap_err();
        assert_eq!(fields(&errors), ["kms_key_arn"]);
        assert!(errors.errors()[0].message.contains("region eu-west-1"));
    }

    #[test]
    fn request_rejects_kms_key_in_another_partition() {
        let input = PolicyInput {
            region: Some("cn-north-1".to_owned()),
            ..valid_input()
        };
        let errors = PolicyRequest::parse(&input).unwrap_err();
        assert_eq!(fields(&errors), ["kms_key_arn"]);
        assert!(errors.errors()[0].message.contains("partition aws-cn"));
    }

    #[test]
    fn input_rejects_unknown_fields() {
        let json = r#"{"mode":"read_only","bucket":"acme","region":"eu-west-1","role":"x"}"#;
        assert!(serde_json::from_str::<PolicyInput>(json).is_err());
    }

    #[test]
    fn request_matches_connection_spec() {
        let spec = ConnectionSpec::parse(&crate::domain::ConnectionInput {
            mode: Some("read_only".to_owned()),
            role_arn: Some("arn:aws:iam::123456789012:role/Reader".to_owned()),
            bucket: Some("acme-billing".to_owned()),
            prefix: Some("billing".to_owned()),
            region: Some("eu-west-1".to_owned()),
            kms_key_arn: None,
        })
        .unwrap();
        let request = PolicyRequest::from(&spec);
        assert_eq!(request.prefix.as_str(), "billing/");
        assert_eq!(request.bucket, spec.bucket);
    }
}
