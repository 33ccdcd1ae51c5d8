//! AWS CLI commands that create the same role as the CloudFormation template.

use super::cloudformation::RoleDefinition;
use crate::domain::Region;
use std::borrow::Cow;

/// Renders `aws iam create-role` and `aws iam put-role-policy`, one command line each.
///
/// `--region` is the bucket's region. IAM is global within a partition, so the CLI sends the
/// requests to the IAM endpoint of that region's partition, which matters in aws-cn and
/// aws-us-gov.
pub(crate) fn commands(
    role: &RoleDefinition<'_>,
    region: Region,
) -> Result<Vec<String>, serde_json::Error> {
    let trust_json = role.trust_policy.to_json()?;
    let permissions_json = role.permissions_policy.to_json()?;

    let create_role = command_line(&[
        "aws",
        "iam",
        "create-role",
        "--region",
        region.as_str(),
        "--role-name",
        role.role_name,
        "--description",
        role.description,
        "--assume-role-policy-document",
        &trust_json,
    ]);
    let put_role_policy = command_line(&[
        "aws",
        "iam",
        "put-role-policy",
        "--region",
        region.as_str(),
        "--role-name",
        role.role_name,
        "--policy-name",
        role.policy_name,
        "--policy-document",
        &permissions_json,
    ]);
    Ok(vec![create_role, put_role_policy])
}

fn command_line(words: &[&str]) -> String {
    let quoted: Vec<Cow<'_, str>> = words.iter().map(|word| quote(word)).collect();
    quoted.join(" ")
}

/// Quotes `word` for a POSIX shell. A word of only safe characters stays bare. Any other word
/// is put in single quotes, inside which every byte is literal except `'` itself, so each `'`
/// becomes `'\''`: close the quotes, an escaped quote, and reopen them.
pub(crate) fn quote(word: &str) -> Cow<'_, str> {
    let is_safe = |c: char| c.is_ascii_alphanumeric() || "_-+=.,/:@%".contains(c);
    if !word.is_empty() && word.chars().all(is_safe) {
        return Cow::Borrowed(word);
    }
    Cow::Owned(format!("'{}'", word.replace('\'', r"'\''")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quote_leaves_safe_words_bare() {
        for word in ["aws", "--role-name", "Acme-S3-ReadOnly-Role", "eu-west-1"] {
            assert_eq!(quote(word), word);
        }
    }

    #[test]
    fn quote_wraps_other_words() {
        assert_eq!(quote(""), "''");
        assert_eq!(quote("a b"), "'a b'");
        assert_eq!(quote(r#"{"a":"$b`c\d"}"#), r#"'{"a":"$b`c\d"}'"#);
        assert_eq!(quote("O'Brien"), r"'O'\''Brien'");
        assert_eq!(quote("報告"), "'報告'");
    }
}
