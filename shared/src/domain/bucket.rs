//! General-purpose S3 bucket names.

use super::error::{string_newtype_serde, FieldError};
use std::net::Ipv4Addr;

const RESERVED_PREFIXES: &[&str] = &["xn--", "sthree-", "amzn-s3-demo-"];
const RESERVED_SUFFIXES: &[&str] = &["-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"];

/// A bucket name that follows the S3 naming rules for general purpose buckets.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BucketName(String);

impl BucketName {
    pub const FIELD: &'static str = "bucket";

    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        check_rules(raw).map_err(|reason| {
            FieldError::new(
                Self::FIELD,
                raw,
                format!("{reason}; use the bucket's exact name as shown in the S3 console"),
            )
        })?;
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether the name contains dots. Such buckets need path-style requests, because the
    /// wildcard TLS certificate of virtual-hosted S3 names covers one DNS label only.
    pub fn needs_path_style(&self) -> bool {
        self.0.contains('.')
    }
}

fn check_rules(name: &str) -> Result<(), String> {
    if !(3..=63).contains(&name.len()) {
        return Err(format!(
            "bucket name must be 3 to 63 characters long; got {}",
            name.len()
        ));
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !matches!(c, 'a'..='z' | '0'..='9' | '.' | '-'))
    {
        return Err(format!(
            "bucket name may contain only lowercase letters, digits, dots and hyphens; found {bad:?}"
        ));
    }
    let starts_and_ends_alphanumeric = [name.as_bytes()[0], name.as_bytes()[name.len() - 1]]
        .iter()
        .all(u8::is_ascii_alphanumeric);
    if !starts_and_ends_alphanumeric {
        return Err("bucket name must start and end with a letter or digit".to_owned());
    }
    if name.contains("..") {
        return Err("bucket name must not contain two adjacent dots".to_owned());
    }
    if name.parse::<Ipv4Addr>().is_ok() {
        return Err("bucket name must not be formatted as an IP address".to_owned());
    }
    if let Some(prefix) = RESERVED_PREFIXES.iter().find(|p| name.starts_with(*p)) {
        return Err(format!(
            "bucket name must not start with the reserved prefix {prefix:?}"
        ));
    }
    if let Some(suffix) = RESERVED_SUFFIXES.iter().find(|s| name.ends_with(*s)) {
        return Err(format!(
            "bucket name must not end with the reserved suffix {suffix:?}"
        ));
    }
    Ok(())
}

string_newtype_serde!(BucketName);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_accepts_valid_names() {
        for raw in [
            "abc",
            "acme-billing-data",
            "logs.example.com",
            "a1-b2.c3",
            &"a".repeat(63),
        ] {
            assert!(BucketName::parse(raw).is_ok(), "{raw}");
        }
    }

    #[test]
    fn bucket_rejects_each_naming_rule() {
        let cases = [
            ("ab", "3 to 63"),
            (&"a".repeat(64) as &str, "3 to 63"),
            ("Acme", "lowercase"),
            ("acme_data", "lowercase"),
            ("-acme", "start and end"),
            ("acme.", "start and end"),
            ("acme..data", "adjacent dots"),
            ("192.168.5.4", "IP address"),
            ("xn--acme", "reserved prefix"),
            ("sthree-acme", "reserved prefix"),
            ("amzn-s3-demo-bucket", "reserved prefix"),
            ("acme-s3alias", "reserved suffix"),
            ("acme--ol-s3", "reserved suffix"),
            ("acme.mrap", "reserved suffix"),
            ("acme--x-s3", "reserved suffix"),
            ("acme--table-s3", "reserved suffix"),
        ];
        for (raw, reason) in cases {
            let error = BucketName::parse(raw).unwrap_err();
            assert_eq!(error.field, "bucket");
            assert!(error.message.contains(reason), "{raw}: {}", error.message);
        }
    }

    #[test]
    fn bucket_with_dots_needs_path_style() {
        assert!(BucketName::parse("logs.example.com")
            .unwrap()
            .needs_path_style());
        assert!(!BucketName::parse("logs-example")
            .unwrap()
            .needs_path_style());
    }
}
