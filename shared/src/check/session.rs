//! STS role session names, which appear in the customer's CloudTrail as the session of every
//! request the platform makes with the assumed role.

use crate::domain::EndpointId;

/// STS accepts 2 to 64 characters of `[\w+=,.@-]` in a RoleSessionName.
const MAX_SESSION_NAME_LEN: usize = 64;
const MIN_SESSION_NAME_LEN: usize = 2;
const SESSION_NAME_PREFIX: &str = "s3-endpoint-";

/// Builds the session name for a test of `endpoint_id`, or of an unsaved configuration.
pub(crate) fn session_name(endpoint_id: Option<&EndpointId>) -> String {
    let label = endpoint_id.map_or("unsaved", EndpointId::as_str);
    sanitize_session_name(&format!("{SESSION_NAME_PREFIX}{label}"))
}

/// Makes `raw` a valid RoleSessionName: every character outside `[\w+=,.@-]` becomes `-`, the
/// result is cut to 64 characters and padded with `-` to at least 2.
pub(crate) fn sanitize_session_name(raw: &str) -> String {
    let mut name: String = raw
        .chars()
        .map(|c| if is_session_name_char(c) { c } else { '-' })
        .take(MAX_SESSION_NAME_LEN)
        .collect();
    while name.len() < MIN_SESSION_NAME_LEN {
        name.push('-');
    }
    name
}

fn is_session_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "_+=,.@-".contains(c)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ulid::Ulid;

    #[test]
    fn session_name_identifies_the_endpoint() {
        let id = EndpointId::from_ulid(Ulid::from_parts(1_700_000_000_000, 7));
        let name = session_name(Some(&id));
        assert_eq!(name, format!("s3-endpoint-{}", id.as_str()));
        assert!(name.len() <= MAX_SESSION_NAME_LEN);
    }

    #[test]
    fn session_name_marks_unsaved_configurations() {
        assert_eq!(session_name(None), "s3-endpoint-unsaved");
    }

    #[test]
    fn session_name_replaces_disallowed_characters() {
        assert_eq!(sanitize_session_name("a b|c:d/é"), "a-b-c-d--");
        assert_eq!(sanitize_session_name("ok_+=,.@-"), "ok_+=,.@-");
    }

    #[test]
    fn session_name_respects_length_limits() {
        assert_eq!(sanitize_session_name(&"x".repeat(100)).len(), 64);
        assert_eq!(sanitize_session_name(""), "--");
        assert_eq!(sanitize_session_name("a"), "a-");
        // Multi-byte characters are replaced before counting, so the limit applies to bytes too.
        assert_eq!(sanitize_session_name(&"ü".repeat(100)).len(), 64);
    }
}
