//! The trust policy of the customer's role.

use super::document::{PolicyDocument, Principal, Statement};
use super::platform::PlatformIdentity;
use crate::domain::ExternalId;

/// Renders a trust policy that lets only the platform principal assume the role, and only
/// with the tenant's External ID. Without the External ID condition, any other tenant of the
/// platform could enter this role's ARN in its own endpoint and have the platform assume it
/// (the confused deputy problem).
pub(crate) fn trust_policy(
    platform: &PlatformIdentity,
    external_id: &ExternalId,
) -> PolicyDocument {
    let statement = Statement {
        principal: Some(Principal {
            aws: platform.principal_arn().to_owned(),
        }),
        ..Statement::allow(
            "TrustPlatformWithExternalId",
            &["sts:AssumeRole"],
            Vec::new(),
        )
    }
    .with_condition(
        "StringEquals",
        "sts:ExternalId",
        vec![external_id.as_str().to_owned()],
    );
    PolicyDocument::new(vec![statement])
}
