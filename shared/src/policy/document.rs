//! IAM policy documents as typed values, so that serialization writes every key in one fixed
//! order and the same input always renders the same bytes.

use super::error::PolicyError;
use serde::ser::{SerializeSeq, Serializer};
use serde::Serialize;
use std::collections::BTreeMap;

/// The current IAM policy language version. Policy variables such as `${aws:username}` are
/// read only in this version, which is why user input must never contain `${`.
pub const POLICY_VERSION: &str = "2012-10-17";

/// An IAM policy document, a trust policy or a permissions policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PolicyDocument {
    #[serde(rename = "Version")]
    pub version: &'static str,
    #[serde(rename = "Statement")]
    pub statements: Vec<Statement>,
}

impl PolicyDocument {
    pub fn new(statements: Vec<Statement>) -> Self {
        Self {
            version: POLICY_VERSION,
            statements,
        }
    }

    /// Serializes the document as compact JSON, the form passed to IAM.
    pub fn to_json(&self) -> Result<String, serde_json::Error> {
        serde_json::to_string(self)
    }

    /// Returns the size IAM counts against its quotas, in characters. IAM does not count
    /// whitespace, and compact JSON has none outside string values. Whitespace inside values,
    /// such as a space in a prefix, is counted here, which can only make the check stricter.
    pub fn quota_size(&self) -> Result<usize, serde_json::Error> {
        Ok(self.to_json()?.chars().count())
    }

    /// Fails with [`PolicyError::TooLarge`] when the document is over `limit` characters.
    pub(crate) fn check_size(
        &self,
        document: &'static str,
        field: &'static str,
        limit: usize,
    ) -> Result<(), PolicyError> {
        let size = self
            .quota_size()
            .map_err(|source| PolicyError::Serialize { document, source })?;
        if size > limit {
            return Err(PolicyError::TooLarge {
                document,
                field,
                size,
                limit,
            });
        }
        Ok(())
    }
}

/// One policy statement. The service renders only `Allow` statements, built with [`Statement::allow`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Statement {
    pub sid: &'static str,
    pub effect: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub principal: Option<Principal>,
    #[serde(serialize_with = "one_or_many")]
    pub action: Vec<&'static str>,
    #[serde(skip_serializing_if = "Vec::is_empty", serialize_with = "one_or_many")]
    pub resource: Vec<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub condition: Conditions,
}

impl Statement {
    /// Builds an `Allow` statement of `actions` on `resources`, with no conditions.
    pub fn allow(sid: &'static str, actions: &[&'static str], resources: Vec<String>) -> Self {
        Self {
            sid,
            effect: "Allow",
            principal: None,
            action: actions.to_vec(),
            resource: resources,
            condition: Conditions::new(),
        }
    }

    /// Adds the condition `operator` on `key` with `values`, which IAM matches if any value does.
    pub fn with_condition(
        mut self,
        operator: &'static str,
        key: &'static str,
        values: Vec<String>,
    ) -> Self {
        self.condition
            .entry(operator)
            .or_default()
            .insert(key, ConditionValues(values));
        self
    }
}

/// The `Principal` element of a trust policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Principal {
    #[serde(rename = "AWS")]
    pub aws: String,
}

/// Conditions by operator, then by key. Ordered maps keep the output stable.
pub type Conditions = BTreeMap<&'static str, BTreeMap<&'static str, ConditionValues>>;

/// The values of one condition key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConditionValues(pub Vec<String>);

impl Serialize for ConditionValues {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        one_or_many(&self.0, serializer)
    }
}

/// Writes a single value as a plain string and several as an array, as IAM's own examples do.
fn one_or_many<T: Serialize, S: Serializer>(
    values: &[T],
    serializer: S,
) -> Result<S::Ok, S::Error> {
    if let [single] = values {
        return single.serialize(serializer);
    }
    let mut sequence = serializer.serialize_seq(Some(values.len()))?;
    for value in values {
        sequence.serialize_element(value)?;
    }
    sequence.end()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn statement() -> Statement {
        Statement::allow(
            "ReadObjects",
            &["s3:GetObject"],
            vec!["arn:aws:s3:::acme/*".to_owned()],
        )
    }

    #[test]
    fn document_writes_keys_in_fixed_order() {
        let document = PolicyDocument::new(vec![statement().with_condition(
            "StringLike",
            "s3:prefix",
            vec!["a/".to_owned(), "a/*".to_owned()],
        )]);
        assert_eq!(
            document.to_json().unwrap(),
            r#"{"Version":"2012-10-17","Statement":[{"Sid":"ReadObjects","Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::acme/*","Condition":{"StringLike":{"s3:prefix":["a/","a/*"]}}}]}"#
        );
    }

    #[test]
    fn document_lists_several_actions_as_an_array() {
        let document = PolicyDocument::new(vec![Statement::allow(
            "Write",
            &["s3:PutObject", "s3:DeleteObject"],
            vec!["arn:aws:s3:::acme/*".to_owned()],
        )]);
        let json = document.to_json().unwrap();
        assert!(json.contains(r#""Action":["s3:PutObject","s3:DeleteObject"]"#));
    }

    #[test]
    fn document_size_check_names_field_and_limit() {
        let document = PolicyDocument::new(vec![statement()]);
        let size = document.quota_size().unwrap();
        assert!(document
            .check_size("permissions policy", "prefix", size)
            .is_ok());

        let error = document
            .check_size("permissions policy", "prefix", size - 1)
            .unwrap_err();
        assert!(matches!(
            error,
            PolicyError::TooLarge { field: "prefix", limit, .. } if limit == size - 1
        ));
        let message = error.to_string();
        assert!(message.contains("prefix"), "{message}");
        assert!(message.contains(&(size - 1).to_string()), "{message}");
    }
}
