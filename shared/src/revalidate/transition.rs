//! Health state changes and the EventBridge event that announces each one.
//!
//! A change is a new state that differs from the stored one. A first-ever result counts only
//! when it is failing. An endpoint is saved after its connection test passed, so an endpoint
//! without stored health was healthy when last seen. A first healthy result therefore changes
//! nothing that a subscriber needs to hear about. A failing endpoint whose failing check changes
//! (say from `write` to `assume_role`) stays failing, so it is no change.

use crate::domain::{EndpointId, Health, HealthState, TenantId};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// The `source` of every health change event.
pub const EVENT_SOURCE: &str = "s3-endpoints";

/// The `detail-type` of every health change event.
pub const EVENT_DETAIL_TYPE: &str = "Endpoint Health Changed";

/// The `detail` of an `Endpoint Health Changed` event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthChanged {
    /// Identifies the change, the same in every copy of its event, so that a subscriber can
    /// drop a duplicate delivery.
    pub transition_id: String,
    pub tenant: TenantId,
    pub endpoint_id: EndpointId,
    /// The state before the change, or `None` for an endpoint's first result.
    pub old_state: Option<HealthState>,
    pub new_state: HealthState,
    /// The check that failed, such as `assume_role` or `write`, when the new state is failing.
    pub failing_check: Option<String>,
    pub error_code: Option<String>,
    pub message: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub checked_at: OffsetDateTime,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub last_healthy_at: Option<OffsetDateTime>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub first_failed_at: Option<OffsetDateTime>,
}

/// Returns the change from `previous` to `current`, or `None` when the state stays the same.
pub fn detect_change(
    tenant: &TenantId,
    endpoint_id: &EndpointId,
    previous: Option<&Health>,
    current: &Health,
) -> Option<HealthChanged> {
    let old_state = previous.map(|health| health.state);
    let changed = match old_state {
        None => current.state == HealthState::Failing,
        Some(old) => old != current.state,
    };
    if !changed {
        return None;
    }

    let failure = current.failure.as_ref();
    Some(HealthChanged {
        transition_id: transition_id(endpoint_id, current.last_checked_at),
        tenant: tenant.clone(),
        endpoint_id: endpoint_id.clone(),
        old_state,
        new_state: current.state,
        failing_check: failure.map(|f| f.check.clone()),
        error_code: failure.and_then(|f| f.error_code.clone()),
        message: failure.map(|f| f.message.clone()),
        checked_at: current.last_checked_at,
        last_healthy_at: current.last_healthy_at,
        first_failed_at: current.first_failed_at,
    })
}

/// Builds the id of the change that the health checked at `checked_at` made. Endpoint ids are
/// unique across tenants and each endpoint stores at most one health per instant, so the pair
/// is unique.
fn transition_id(endpoint_id: &EndpointId, checked_at: OffsetDateTime) -> String {
    format!("{}-{}", endpoint_id, checked_at.unix_timestamp_nanos())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::HealthFailure;
    use time::macros::datetime;
    use ulid::Ulid;

    fn ids() -> (TenantId, EndpointId) {
        let tenant = TenantId::parse("acme").unwrap();
        let id = EndpointId::from_ulid(Ulid::from_parts(1_767_225_600_000, 7));
        (tenant, id)
    }

    fn write_denied() -> HealthFailure {
        HealthFailure {
            check: "write".to_owned(),
            error_code: Some("AccessDenied".to_owned()),
            message: "PutObject was denied".to_owned(),
        }
    }

    fn healthy_at(at: OffsetDateTime) -> Health {
        Health::after(None, at, None)
    }

    #[test]
    fn change_healthy_to_failing_carries_failure() {
        let (tenant, id) = ids();
        let before = healthy_at(datetime!(2026-01-01 00:00 UTC));
        let at = datetime!(2026-01-01 12:00 UTC);
        let after = Health::after(Some(&before), at, Some(write_denied()));
        let change = detect_change(&tenant, &id, Some(&before), &after).unwrap();
        assert_eq!(change.old_state, Some(HealthState::Healthy));
        assert_eq!(change.new_state, HealthState::Failing);
        assert_eq!(change.failing_check.as_deref(), Some("write"));
        assert_eq!(change.error_code.as_deref(), Some("AccessDenied"));
        assert_eq!(change.first_failed_at, Some(at));
    }

    #[test]
    fn change_failing_to_healthy_has_no_check() {
        let (tenant, id) = ids();
        let at = datetime!(2026-01-01 00:00 UTC);
        let failing = Health::after(None, at, Some(write_denied()));
        let healthy = Health::after(Some(&failing), at + time::Duration::hours(1), None);
        let change = detect_change(&tenant, &id, Some(&failing), &healthy).unwrap();
        assert_eq!(change.old_state, Some(HealthState::Failing));
        assert_eq!(change.new_state, HealthState::Healthy);
        assert_eq!(change.failing_check, None);
    }

    #[test]
    fn change_absent_for_same_state() {
        let (tenant, id) = ids();
        let at = datetime!(2026-01-01 00:00 UTC);
        let healthy = healthy_at(at);
        let again = Health::after(Some(&healthy), at + time::Duration::hours(1), None);
        assert_eq!(detect_change(&tenant, &id, Some(&healthy), &again), None);

        let failing = Health::after(None, at, Some(write_denied()));
        let mut other_check = write_denied();
        other_check.check = "assume_role".to_owned();
        let still = Health::after(
            Some(&failing),
            at + time::Duration::hours(1),
            Some(other_check),
        );
        assert_eq!(detect_change(&tenant, &id, Some(&failing), &still), None);
    }

    #[test]
    fn change_for_first_result_only_when_failing() {
        let (tenant, id) = ids();
        let at = datetime!(2026-01-01 00:00 UTC);
        assert_eq!(detect_change(&tenant, &id, None, &healthy_at(at)), None);

        let failing = Health::after(None, at, Some(write_denied()));
        let change = detect_change(&tenant, &id, None, &failing).unwrap();
        assert_eq!(change.old_state, None);
        assert_eq!(change.new_state, HealthState::Failing);
    }

    #[test]
    fn change_id_depends_on_endpoint_and_time() {
        let (tenant, id) = ids();
        let at = datetime!(2026-01-01 00:00 UTC);
        let first = detect_change(
            &tenant,
            &id,
            None,
            &Health::after(None, at, Some(write_denied())),
        );
        let later = at + time::Duration::nanoseconds(1);
        let second = detect_change(
            &tenant,
            &id,
            None,
            &Health::after(None, later, Some(write_denied())),
        );
        assert_ne!(first.unwrap().transition_id, second.unwrap().transition_id);
    }

    #[test]
    fn change_detail_serializes_expected_fields() {
        let (tenant, id) = ids();
        let at = datetime!(2026-01-01 00:00 UTC);
        let change = detect_change(
            &tenant,
            &id,
            None,
            &Health::after(None, at, Some(write_denied())),
        )
        .unwrap();
        let json = serde_json::to_value(&change).unwrap();
        assert_eq!(json["tenant"], "acme");
        assert_eq!(json["endpoint_id"], id.to_string());
        assert_eq!(json["old_state"], serde_json::Value::Null);
        assert_eq!(json["new_state"], "failing");
        assert_eq!(json["failing_check"], "write");
        assert_eq!(json["checked_at"], "2026-01-01T00:00:00Z");
        let back: HealthChanged = serde_json::from_value(json).unwrap();
        assert_eq!(back, change);
    }
}
