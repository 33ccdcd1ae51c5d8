//! Folder prefixes inside a bucket, and the rule that decides when two of them conflict.

use super::error::{is_hidden_format, string_newtype_serde, FieldError};

/// S3's maximum object key length, in bytes of UTF-8.
pub const MAX_OBJECT_KEY_BYTES: usize = 1_024;

/// Bytes kept free after the prefix for the connection test's object key, which is
/// [`TEST_OBJECT_FOLDER`] followed by a 26-character id and a short suffix.
pub const TEST_OBJECT_KEY_RESERVED_BYTES: usize = 64;

/// Folder, inside the endpoint's prefix, where the connection test writes its object.
pub const TEST_OBJECT_FOLDER: &str = ".s3-endpoint-check/";

/// The longest prefix accepted, in bytes, so that the test object's key still fits.
pub const MAX_PREFIX_BYTES: usize = MAX_OBJECT_KEY_BYTES - TEST_OBJECT_KEY_RESERVED_BYTES;

/// A normalized prefix: no leading `/`, a trailing `/` unless empty, no empty, `.` or `..`
/// segments. The empty prefix means the whole bucket. The same normalized form is used in
/// policies and in requests, because S3 treats `a/b` and `a/b/` as different prefixes.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Prefix(String);

impl Prefix {
    pub const FIELD: &'static str = "prefix";

    /// The prefix that covers the whole bucket.
    pub fn whole_bucket() -> Self {
        Self(String::new())
    }

    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let reject = |reason: &str| FieldError::new(Self::FIELD, raw, reason);

        let without_leading = raw.strip_prefix('/').unwrap_or(raw);
        if without_leading.is_empty() {
            return Ok(Self::whole_bucket());
        }
        // A space copied along with a folder name would become part of every key the policy
        // grants, so a prefix that starts or ends with white space is rejected with the fix.
        if raw.trim() != raw {
            let trimmed = raw.trim();
            if trimmed.trim_matches('/').is_empty() {
                return Err(reject(
                    "prefix must not start or end with spaces; leave prefix out only if the endpoint should cover the whole bucket",
                ));
            }
            return Err(reject(&format!(
                "prefix must not start or end with spaces; write {trimmed:?} if the spaces are not part of the folder name"
            )));
        }
        if without_leading
            .chars()
            .any(|c| c.is_control() || is_hidden_format(c))
        {
            return Err(reject(
                "prefix must not contain control characters, or invisible or direction-changing \
                 characters such as U+200B or U+202E, which make one folder look like another",
            ));
        }
        // IAM reads `*` and `?` as wildcards and `${...}` as a policy variable in resource ARNs,
        // so a prefix holding them would grant more than its own folder.
        if without_leading.contains(['*', '?']) || without_leading.contains("${") {
            return Err(reject(
                "prefix must not contain *, ? or ${, which IAM policies read as wildcards or variables",
            ));
        }
        let segments: Vec<&str> = without_leading.trim_end_matches('/').split('/').collect();
        if without_leading.ends_with("//") || segments.iter().any(|s| s.is_empty()) {
            return Err(reject(
                "prefix must not contain empty folder names (//); write it like logs/app/",
            ));
        }
        if segments.iter().any(|s| *s == "." || *s == "..") {
            return Err(reject(&dot_segment_message(&segments)));
        }
        let normalized = format!("{}/", segments.join("/"));
        if normalized.len() > MAX_PREFIX_BYTES {
            return Err(reject(&format!(
                "prefix must be at most {MAX_PREFIX_BYTES} bytes of UTF-8, counting the / that ends it, so that object keys under it stay within S3's {MAX_OBJECT_KEY_BYTES}-byte limit; got {}",
                normalized.len()
            )));
        }
        Ok(Self(normalized))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn is_whole_bucket(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether one prefix contains the other, compared by whole folder names: `logs/` conflicts
    /// with `logs/app/`, `logs/app/` does not conflict with `logs/app2/`, and the whole bucket
    /// conflicts with every prefix.
    pub fn conflicts_with(&self, other: &Prefix) -> bool {
        // Both end in `/` (or are empty), so a plain string prefix test compares whole segments.
        self.0.starts_with(&other.0) || other.0.starts_with(&self.0)
    }

    /// Returns the key of an object named `name` directly under this prefix.
    pub fn object_key(&self, name: &str) -> String {
        format!("{}{name}", self.0)
    }
}

string_newtype_serde!(Prefix);

/// S3 keeps `.` and `..` in keys as plain names while IAM and most tools resolve them, so a
/// policy and the objects it should cover could disagree. The message offers the resolved
/// prefix when there is one.
fn dot_segment_message(segments: &[&str]) -> String {
    let mut resolved: Vec<&str> = Vec::new();
    for segment in segments {
        match *segment {
            "." => {}
            ".." => {
                if resolved.pop().is_none() {
                    return "prefix must not contain . or .. folder names, and this one climbs above the bucket; name the folder itself, like logs/app/".to_owned();
                }
            }
            name => resolved.push(name),
        }
    }
    if resolved.is_empty() {
        return "prefix must not contain . or .. folder names; leave prefix out to cover the whole bucket".to_owned();
    }
    format!(
        "prefix must not contain . or .. folder names, which S3 keeps as plain names; write {}/ instead",
        resolved.join("/")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prefix(raw: &str) -> Prefix {
        Prefix::parse(raw).unwrap()
    }

    #[test]
    fn prefix_is_normalized() {
        assert_eq!(prefix("logs").as_str(), "logs/");
        assert_eq!(prefix("/logs/app").as_str(), "logs/app/");
        assert_eq!(prefix("logs/app/").as_str(), "logs/app/");
        assert_eq!(prefix("").as_str(), "");
        assert_eq!(prefix("/").as_str(), "");
    }

    #[test]
    fn prefix_keeps_spaces_and_non_ascii() {
        assert_eq!(prefix("Kosten 2026/Bücher").as_str(), "Kosten 2026/Bücher/");
        assert_eq!(prefix("報告").as_str(), "報告/");
    }

    #[test]
    fn prefix_rejects_surrounding_spaces_with_the_fix() {
        for raw in [" billing/", "billing/ ", "billing\t"] {
            let error = Prefix::parse(raw).unwrap_err();
            assert!(
                error.message.contains("write \"billing"),
                "{raw:?}: {}",
                error.message
            );
        }
        assert!(Prefix::parse("my folder/").is_ok());
    }

    #[test]
    fn prefix_rejects_hidden_format_characters() {
        for raw in ["\u{200b}billing/", "bil\u{202e}ling/", "a\u{2028}b/"] {
            assert!(Prefix::parse(raw).is_err(), "{raw:?}");
        }
        assert!(Prefix::parse("\u{0645}\u{200c}\u{0627}/").is_ok());
    }

    #[test]
    fn prefix_dot_segments_suggest_the_resolved_prefix() {
        let message = |raw: &str| Prefix::parse(raw).unwrap_err().message;

        assert!(
            message("a/./b/").ends_with("write a/b/ instead"),
            "{}",
            message("a/./b/")
        );
        assert!(message("a/x/../b").ends_with("write a/b/ instead"));
        assert!(message("a/..").contains("leave prefix out"));
        assert!(message("../a").contains("climbs above the bucket"));
    }

    #[test]
    fn prefix_rejects_bad_segments() {
        for raw in [
            "a//b", "a/./b", "../a", "a/..", "a\u{0}b", "a\nb", "logs//", "//a",
        ] {
            assert_eq!(Prefix::parse(raw).unwrap_err().field, "prefix", "{raw:?}");
        }
    }

    #[test]
    fn prefix_rejects_policy_wildcards() {
        for raw in ["logs/*", "a?b", "${aws:username}/"] {
            assert!(Prefix::parse(raw).is_err(), "{raw}");
        }
    }

    #[test]
    fn prefix_leaves_room_for_the_test_object() {
        let longest = "a".repeat(MAX_PREFIX_BYTES - 1);
        assert!(Prefix::parse(&longest).is_ok());
        let too_long = "a".repeat(MAX_PREFIX_BYTES);
        assert!(Prefix::parse(&too_long).is_err());
        // Length is counted in bytes: "é" takes two.
        assert!(Prefix::parse(&"é".repeat(MAX_PREFIX_BYTES / 2)).is_err());
        let key = prefix(&longest).object_key(&format!("{TEST_OBJECT_FOLDER}{}", "X".repeat(26)));
        assert!(key.len() <= MAX_OBJECT_KEY_BYTES);
    }

    #[test]
    fn prefix_conflicts_by_whole_segments() {
        assert!(prefix("logs/").conflicts_with(&prefix("logs/app/")));
        assert!(prefix("logs/app/").conflicts_with(&prefix("logs/")));
        assert!(!prefix("logs/app/").conflicts_with(&prefix("logs/app2/")));
        assert!(prefix("logs/").conflicts_with(&prefix("logs/")));
        assert!(Prefix::whole_bucket().conflicts_with(&prefix("anything/")));
        assert!(prefix("anything/").conflicts_with(&Prefix::whole_bucket()));
        assert!(!prefix("billing/").conflicts_with(&prefix("exports/")));
    }
}
