//! Snapshot tests of every rendered document. Under `CI=true` insta writes no files and fails
//! on any difference or missing snapshot. Locally it writes `.snap.new` files to review with
//! `cargo insta review`, or to accept by rerunning with `INSTA_UPDATE=always`.

mod policy_cases;

use endpoint_core::policy::{render, PolicyBundle};
use policy_cases::PolicyCase;

/// Lays out a bundle as one readable text: each document as indented JSON, the template as
/// rendered and one CLI command a line.
fn snapshot_text(bundle: &PolicyBundle) -> String {
    let trust = serde_json::to_string_pretty(&bundle.trust_policy).unwrap();
    let permissions = serde_json::to_string_pretty(&bundle.permissions_policy).unwrap();
    format!(
        "role_name: {}\npolicy_name: {}\n\n## trust policy\n{trust}\n\n## permissions policy\n{permissions}\n\n## CloudFormation template\n{}\n## AWS CLI commands\n{}\n",
        bundle.role_name,
        bundle.policy_name,
        bundle.cloudformation,
        bundle.cli_commands.join("\n"),
    )
}

fn assert_case_snapshots(cases: Vec<PolicyCase>) {
    for case in cases {
        let bundle = render(&case.request, &case.platform, &case.external_id).unwrap();
        insta::assert_snapshot!(case.name.clone(), snapshot_text(&bundle));
    }
}

#[test]
fn snapshots_of_each_mode_and_partition() {
    assert_case_snapshots(policy_cases::snapshot_cases());
}

#[test]
fn snapshots_of_unusual_prefixes() {
    assert_case_snapshots(policy_cases::unusual_prefix_cases());
}
