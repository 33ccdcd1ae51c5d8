//! Property tests of prefix normalization and the conflict rule.

use endpoint_core::domain::{Prefix, MAX_PREFIX_BYTES};
use proptest::prelude::*;

/// Folder names made of letters, digits, spaces, dots and a few non-ASCII letters. Spaces sit
/// only inside a name, because a prefix may not start or end with one.
fn segment() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9._éü報-]([a-zA-Z0-9 ._éü報-]{0,10}[a-zA-Z0-9._éü報-])?"
        .prop_filter("not . or ..", |s| s != "." && s != "..")
}

fn prefix_text() -> impl Strategy<Value = String> {
    prop::collection::vec(segment(), 0..6).prop_map(|segments| segments.join("/"))
}

proptest! {
    #[test]
    fn normalizing_twice_changes_nothing(raw in prefix_text()) {
        let once = Prefix::parse(&raw).unwrap();
        let twice = Prefix::parse(once.as_str()).unwrap();
        prop_assert_eq!(once, twice);
    }

    #[test]
    fn normalized_prefix_ends_with_a_slash_or_is_empty(raw in prefix_text()) {
        let prefix = Prefix::parse(&raw).unwrap();
        prop_assert!(prefix.is_whole_bucket() || prefix.as_str().ends_with('/'));
        prop_assert!(!prefix.as_str().starts_with('/'));
        prop_assert!(prefix.as_str().len() <= MAX_PREFIX_BYTES);
    }

    #[test]
    fn conflict_is_symmetric(a in prefix_text(), b in prefix_text()) {
        let a = Prefix::parse(&a).unwrap();
        let b = Prefix::parse(&b).unwrap();
        prop_assert_eq!(a.conflicts_with(&b), b.conflicts_with(&a));
    }

    #[test]
    fn a_prefix_conflicts_with_every_folder_below_it(base in prefix_text(), child in segment()) {
        let parent = Prefix::parse(&base).unwrap();
        let below = Prefix::parse(&format!("{}{child}", parent.as_str())).unwrap();
        prop_assert!(parent.conflicts_with(&below));
    }

    #[test]
    fn sibling_folders_sharing_a_name_start_never_conflict(
        base in prefix_text(),
        name in "[a-z]{1,8}",
        extra in "[a-z0-9]{1,4}",
    ) {
        let parent = Prefix::parse(&base).unwrap();
        let left = Prefix::parse(&format!("{}{name}", parent.as_str())).unwrap();
        let right = Prefix::parse(&format!("{}{name}{extra}", parent.as_str())).unwrap();
        prop_assert!(!left.conflicts_with(&right));
    }

    #[test]
    fn parse_never_panics(raw in "\\PC{0,64}") {
        let _ = Prefix::parse(&raw);
    }
}
