//! Data that the benchmarks run against: a fresh endpoints table in DynamoDB Local, a tenant
//! with its External ID, and a customer bucket and role in moto that the connection test
//! passes on.

use aws_config::SdkConfig;
use endpoint_core::clock::{IdGenerator, UlidGenerator};
use endpoint_core::domain::{Endpoint, EndpointInput, EndpointSpec, ExternalId, TenantId};
use endpoint_core::store::dynamo::{ClientSettings, DynamoStore};
use endpoint_core::store::{schema, EndpointStore};
use s3_endpoints::{
    create_customer_bucket, create_customer_role, platform_trust_policy, stack, unique_name,
    CustomerBucket, DEFAULT_REGION,
};
use serde_json::json;
use std::sync::Arc;
use time::OffsetDateTime;

/// The tenant whose External ID the customer role trusts.
pub const TENANT: &str = "bench-tenant";

/// Objects in the customer bucket, so that the connection test's read check finds one.
const OBJECTS: [(&str, &[u8]); 2] = [
    ("seed/report.csv", b"date,cost\n2026-01-01,1.00\n"),
    ("data/report.csv", b"date,cost\n2026-01-01,1.00\n"),
];

pub struct Fixture {
    pub table: String,
    pub tenant: TenantId,
    pub external_id: ExternalId,
    pub bucket: CustomerBucket,
    /// ARN of a customer role that trusts the platform with the tenant's External ID and
    /// allows everything on the bucket, so that both modes pass the connection test.
    pub role_arn: String,
    pub store: Arc<DynamoStore>,
}

impl Fixture {
    /// Creates the table, the tenant's External ID, the bucket and the role.
    pub async fn create() -> Result<Self, String> {
        let config = stack().platform_config();
        let dynamodb = ClientSettings::default().client(&config);
        let table = unique_name("bench");
        schema::create_table(&dynamodb, &table)
            .await
            .map_err(|error| error.to_string())?;
        let store = Arc::new(DynamoStore::new(dynamodb.clone(), table.clone()));

        let tenant = TenantId::parse(TENANT).map_err(|error| error.message)?;
        let candidate = ExternalId::generate().map_err(|error| error.to_string())?;
        let external_id = store
            .get_or_create_external_id(&tenant, candidate)
            .await
            .map_err(|error| format!("creating the External ID failed: {error}"))?;

        let customer = stack().customer_account_id().to_owned();
        let bucket = create_customer_bucket(&customer, DEFAULT_REGION, &OBJECTS).await;
        let permissions = json!({
            "Version": "2012-10-17",
            "Statement": [{
                "Effect": "Allow",
                "Action": "s3:*",
                "Resource": [bucket.arn(), format!("{}/*", bucket.arn())]
            }]
        });
        let trust = platform_trust_policy(external_id.as_str());
        let role = create_customer_role(&customer, &trust, Some(&permissions)).await;

        Ok(Self {
            table,
            tenant,
            external_id,
            bucket,
            role_arn: role.arn,
            store,
        })
    }

    /// Returns an endpoint of the tenant on the fixture's bucket, not yet stored.
    pub fn endpoint(&self, name: &str, prefix: &str, mode: &str) -> Result<Endpoint, String> {
        let spec = EndpointSpec::parse(&self.input(name, prefix, mode))
            .map_err(|errors| format!("invalid benchmark endpoint {name}: {errors:?}"))?;
        let now = OffsetDateTime::now_utc();
        Ok(Endpoint {
            id: UlidGenerator.endpoint_id(now),
            tenant: self.tenant.clone(),
            spec,
            external_id: self.external_id.clone(),
            created_at: now,
            created_by: crate::events::SUBJECT.to_owned(),
        })
    }

    /// Returns the input of an endpoint on the fixture's bucket, as a client sends it.
    pub fn input(&self, name: &str, prefix: &str, mode: &str) -> EndpointInput {
        EndpointInput {
            name: Some(name.to_owned()),
            description: None,
            mode: Some(mode.to_owned()),
            role_arn: Some(self.role_arn.clone()),
            bucket: Some(self.bucket.name.clone()),
            prefix: Some(prefix.to_owned()),
            region: Some(self.bucket.region.clone()),
            kms_key_arn: None,
        }
    }

    /// Returns the JSON body of a create or test request for the fixture's bucket.
    pub fn body(&self, name: Option<&str>, prefix: &str, mode: &str) -> String {
        let mut body = json!({
            "mode": mode,
            "role_arn": self.role_arn,
            "bucket": self.bucket.name,
            "prefix": prefix,
            "region": self.bucket.region,
        });
        if let Some(name) = name {
            body["name"] = json!(name);
        }
        body.to_string()
    }

    /// Returns the JSON body of a policy request for the fixture's bucket, which names no role.
    pub fn policy_body(&self, prefix: &str, mode: &str) -> String {
        json!({
            "mode": mode,
            "bucket": self.bucket.name,
            "prefix": prefix,
            "region": self.bucket.region,
        })
        .to_string()
    }

    /// Stores `count` read-only endpoints named `Seed <n>` under prefixes `seed-<n>/`.
    pub async fn seed_endpoints(&self, count: usize) -> Result<Vec<Endpoint>, String> {
        let mut seeded = Vec::with_capacity(count);
        for index in 0..count {
            let endpoint = self.endpoint(
                &format!("Seed {index:03}"),
                &format!("seed-{index:03}/"),
                "read_only",
            )?;
            self.store
                .create_endpoint(&endpoint)
                .await
                .map_err(|error| format!("seeding endpoint {index} failed: {error}"))?;
            seeded.push(endpoint);
        }
        Ok(seeded)
    }
}

/// Returns the platform's SDK configuration with one HTTP client, so that every SDK client
/// built from it shares one connection pool, as the functions' clients do. The TLS provider
/// is the tester's. The local stack is plain HTTP, so TLS settings do not change the figures.
pub fn shared_http_config() -> SdkConfig {
    let http_client = endpoint_core::sdk::http_client(endpoint_core::sdk::TrustRoots::Amazon);
    stack()
        .platform_config()
        .to_builder()
        .http_client(http_client)
        .build()
}
