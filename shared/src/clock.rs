//! Time and id sources, injected so that tests can fix them.

use crate::domain::EndpointId;
use time::OffsetDateTime;
use ulid::Ulid;

pub trait Clock: Send + Sync {
    fn now(&self) -> OffsetDateTime;
}

/// The system clock, in UTC.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }
}

pub trait IdGenerator: Send + Sync {
    /// Returns a new endpoint id for an endpoint created at `now`.
    fn endpoint_id(&self, now: OffsetDateTime) -> EndpointId;
}

/// ULIDs whose time part is the creation time and whose 80 random bits come from the operating
/// system's random source.
#[derive(Debug, Default, Clone, Copy)]
pub struct UlidGenerator;

impl IdGenerator for UlidGenerator {
    fn endpoint_id(&self, now: OffsetDateTime) -> EndpointId {
        let millis = (now.unix_timestamp_nanos() / 1_000_000).max(0) as u64;
        EndpointId::from_ulid(Ulid::from_parts(millis, random_u128()))
    }
}

fn random_u128() -> u128 {
    let mut bytes = [0u8; 16];
    // NOTE: getrandom fails only where the operating system has no random source at all; the
    // id then falls back to the time-derived bits below, which stay unique per millisecond only.
    if getrandom::fill(&mut bytes).is_err() {
        return OffsetDateTime::now_utc().unix_timestamp_nanos() as u128;
    }
    u128::from_le_bytes(bytes)
}
