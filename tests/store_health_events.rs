//! The store's compare-and-set health write, its pending events and the revalidation
//! checkpoint, against DynamoDB Local. Each test creates its own table.

use endpoint_core::domain::{
    Endpoint, EndpointId, EndpointInput, EndpointSpec, ExternalId, Health, HealthFailure, TenantId,
};
use endpoint_core::revalidate::checkpoint::{
    CheckpointError, CheckpointState, CheckpointStore, Cycle, DynamoCheckpointStore,
    SegmentProgress,
};
use endpoint_core::store::dynamo::{ClientSettings, DynamoStore};
use endpoint_core::store::{schema, EndpointStore, HealthSwap, PendingEvent, StoreError};
use s3_endpoints::{stack, unique_name};
use std::sync::Arc;
use std::time::Duration;
use time::OffsetDateTime;
use ulid::Ulid;

struct Fixture {
    store: Arc<DynamoStore>,
    checkpoints: DynamoCheckpointStore,
    tenant: TenantId,
}

impl Fixture {
    async fn new() -> Self {
        let settings = ClientSettings {
            attempt_timeout: Duration::from_secs(10),
            operation_timeout: Duration::from_secs(30),
            ..ClientSettings::default()
        };
        let client = settings.client(&stack().platform_config());
        let table = unique_name("health-events");
        if let Err(error) = schema::create_table(&client, &table).await {
            panic!("creating table {table} in DynamoDB Local failed: {error}");
        }
        Self {
            store: Arc::new(DynamoStore::new(client.clone(), table.clone())),
            checkpoints: DynamoCheckpointStore::new(client, table),
            tenant: TenantId::parse("acme").unwrap(),
        }
    }

    async fn endpoint(&self, n: u32) -> Endpoint {
        let input = EndpointInput {
            name: Some(format!("endpoint {n}")),
            mode: Some("read_only".to_owned()),
            role_arn: Some("arn:aws:iam::222222222222:role/Platform-Access".to_owned()),
            bucket: Some("acme-billing".to_owned()),
            prefix: Some(format!("exports/{n}")),
            region: Some("us-east-1".to_owned()),
            ..EndpointInput::default()
        };
        let endpoint = Endpoint {
            id: EndpointId::from_ulid(Ulid::generate()),
            tenant: self.tenant.clone(),
            spec: EndpointSpec::parse(&input).unwrap(),
            external_id: ExternalId::parse("external-id-of-acme").unwrap(),
            created_at: OffsetDateTime::now_utc(),
            created_by: "test".to_owned(),
        };
        self.store.create_endpoint(&endpoint).await.unwrap();
        endpoint
    }

    async fn swap(
        &self,
        id: &EndpointId,
        expected: Option<&Health>,
        health: &Health,
        event: Option<&PendingEvent>,
    ) -> Result<HealthSwap, StoreError> {
        self.store
            .swap_health(&self.tenant, id, expected, health, event)
            .await
    }

    async fn stored_health(&self, id: &EndpointId) -> Option<Health> {
        let mut found = self
            .store
            .get_health(&self.tenant, std::slice::from_ref(id))
            .await
            .unwrap();
        found.remove(id)
    }
}

fn at(seconds: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(1_767_225_600 + seconds).unwrap()
}

fn failing(checked_at: OffsetDateTime) -> Health {
    let failure = HealthFailure {
        check: "write".to_owned(),
        error_code: Some("AccessDenied".to_owned()),
        message: "PutObject was denied".to_owned(),
    };
    Health::after(None, checked_at, Some(failure))
}

fn event_for(endpoint: &Endpoint, name: &str, created_at: OffsetDateTime) -> PendingEvent {
    PendingEvent {
        id: format!("{}-{name}", endpoint.id),
        tenant: endpoint.tenant.clone(),
        endpoint_id: endpoint.id.clone(),
        detail: format!("{{\"change\":\"{name}\"}}"),
        created_at,
    }
}

#[tokio::test]
async fn swap_stores_first_health_with_event() {
    let fixture = Fixture::new().await;
    let endpoint = fixture.endpoint(1).await;
    let health = failing(at(0));
    let event = event_for(&endpoint, "first", at(0));

    let swap = fixture
        .swap(&endpoint.id, None, &health, Some(&event))
        .await
        .unwrap();

    assert_eq!(swap, HealthSwap::Swapped);
    assert_eq!(fixture.stored_health(&endpoint.id).await, Some(health));
    assert_eq!(fixture.store.pending_events(10).await.unwrap(), vec![event]);
}

#[tokio::test]
async fn swap_conflicts_when_stored_health_differs() {
    let fixture = Fixture::new().await;
    let endpoint = fixture.endpoint(1).await;
    let stored = Health::after(None, at(10), None);
    fixture
        .swap(&endpoint.id, None, &stored, None)
        .await
        .unwrap();
    let newer = failing(at(20));
    let event = event_for(&endpoint, "lost", at(20));

    let from_nothing = fixture
        .swap(&endpoint.id, None, &newer, Some(&event))
        .await
        .unwrap();
    let from_other = fixture
        .swap(&endpoint.id, Some(&failing(at(5))), &newer, Some(&event))
        .await
        .unwrap();

    let conflict = HealthSwap::Conflict {
        current: Some(stored.clone()),
    };
    assert_eq!(from_nothing, conflict);
    assert_eq!(from_other, conflict);
    assert_eq!(fixture.stored_health(&endpoint.id).await, Some(stored));
    assert!(fixture.store.pending_events(10).await.unwrap().is_empty());
}

#[tokio::test]
async fn swap_replaces_expected_health() {
    let fixture = Fixture::new().await;
    let endpoint = fixture.endpoint(1).await;
    let first = Health::after(None, at(10), None);
    fixture
        .swap(&endpoint.id, None, &first, None)
        .await
        .unwrap();
    let second = failing(at(20));

    let swap = fixture
        .swap(&endpoint.id, Some(&first), &second, None)
        .await
        .unwrap();

    assert_eq!(swap, HealthSwap::Swapped);
    assert_eq!(fixture.stored_health(&endpoint.id).await, Some(second));
}

#[tokio::test]
async fn swap_rejects_health_not_newer_than_stored() {
    let fixture = Fixture::new().await;
    let endpoint = fixture.endpoint(1).await;
    let stored = Health::after(None, at(10), None);
    fixture
        .swap(&endpoint.id, None, &stored, None)
        .await
        .unwrap();

    let same_time = failing(at(10));
    let swap = fixture
        .swap(&endpoint.id, Some(&stored), &same_time, None)
        .await
        .unwrap();

    assert_eq!(
        swap,
        HealthSwap::Conflict {
            current: Some(stored.clone())
        }
    );
    assert_eq!(fixture.stored_health(&endpoint.id).await, Some(stored));
}

#[tokio::test]
async fn swap_for_deleted_endpoint_writes_nothing() {
    let fixture = Fixture::new().await;
    let endpoint = fixture.endpoint(1).await;
    fixture
        .store
        .delete_endpoint(&fixture.tenant, &endpoint.id)
        .await
        .unwrap();
    let event = event_for(&endpoint, "orphan", at(0));

    let result = fixture
        .swap(&endpoint.id, None, &failing(at(0)), Some(&event))
        .await;

    assert!(matches!(result, Err(StoreError::NotFound(id)) if id == endpoint.id));
    assert_eq!(fixture.stored_health(&endpoint.id).await, None);
    assert!(fixture.store.pending_events(10).await.unwrap().is_empty());
}

#[tokio::test]
async fn concurrent_swaps_from_same_health_store_one() {
    let fixture = Arc::new(Fixture::new().await);
    let endpoint = fixture.endpoint(1).await;

    let writers = (0..8).map(|n| {
        let fixture = fixture.clone();
        let endpoint = endpoint.clone();
        tokio::spawn(async move {
            let health = failing(at(100 + n));
            let event = event_for(&endpoint, &format!("writer-{n}"), at(100 + n));
            fixture
                .swap(&endpoint.id, None, &health, Some(&event))
                .await
                .unwrap()
        })
    });
    let results = futures::future::join_all(writers).await;

    let swapped = results
        .iter()
        .filter(|result| matches!(result, Ok(HealthSwap::Swapped)))
        .count();
    assert_eq!(swapped, 1, "{results:?}");
    assert_eq!(fixture.store.pending_events(10).await.unwrap().len(), 1);
}

#[tokio::test]
async fn pending_events_come_oldest_first_and_delete() {
    let fixture = Fixture::new().await;
    let mut events = Vec::new();
    for (n, seconds) in [(1, 30), (2, 10), (3, 20)] {
        let endpoint = fixture.endpoint(n).await;
        let event = event_for(&endpoint, "change", at(seconds));
        fixture
            .swap(&endpoint.id, None, &failing(at(seconds)), Some(&event))
            .await
            .unwrap();
        events.push(event);
    }

    let oldest_two = fixture.store.pending_events(2).await.unwrap();
    assert_eq!(oldest_two, vec![events[1].clone(), events[2].clone()]);

    fixture
        .store
        .delete_pending_event(&events[1])
        .await
        .unwrap();
    fixture
        .store
        .delete_pending_event(&events[1])
        .await
        .unwrap();
    let left = fixture.store.pending_events(10).await.unwrap();
    assert_eq!(left, vec![events[2].clone(), events[0].clone()]);
}

#[tokio::test]
async fn scan_skips_revalidation_items() {
    let fixture = Fixture::new().await;
    let endpoint = fixture.endpoint(1).await;
    let event = event_for(&endpoint, "change", at(0));
    fixture
        .swap(&endpoint.id, None, &failing(at(0)), Some(&event))
        .await
        .unwrap();
    let state = CheckpointState {
        cycle: Some(Cycle::new(at(0), 1)),
        ..CheckpointState::default()
    };
    fixture.checkpoints.save(0, &state).await.unwrap();

    let page = fixture.store.scan_endpoints(0, 1, None, 100).await.unwrap();

    assert_eq!(page.endpoints, vec![endpoint]);
    assert_eq!(page.next_position, None);
}

#[tokio::test]
async fn checkpoint_saves_only_over_the_version_read() {
    let fixture = Fixture::new().await;
    assert_eq!(fixture.checkpoints.load().await.unwrap().version, 0);
    let mut cycle = Cycle::new(at(0), 2);
    cycle.segments[1] = SegmentProgress::At {
        position: "opaque".to_owned(),
    };
    let state = CheckpointState {
        cycle: Some(cycle),
        ..CheckpointState::default()
    };

    let first = fixture.checkpoints.save(0, &state).await.unwrap();
    let again = fixture
        .checkpoints
        .save(0, &CheckpointState::default())
        .await;
    let stale = fixture
        .checkpoints
        .save(5, &CheckpointState::default())
        .await;

    assert_eq!(first.version, 1);
    assert!(matches!(
        again,
        Err(CheckpointError::Conflict { expected: 0 })
    ));
    assert!(matches!(
        stale,
        Err(CheckpointError::Conflict { expected: 5 })
    ));
    let loaded = fixture.checkpoints.load().await.unwrap();
    assert_eq!(loaded.version, 1);
    assert_eq!(loaded.state, state);

    let second = fixture
        .checkpoints
        .save(1, &CheckpointState::default())
        .await
        .unwrap();
    assert_eq!(second.version, 2);
}
