//! Domain values, each parsed once from untrusted input into a type that cannot hold an
//! invalid value.

mod bucket;
mod endpoint;
mod endpoint_id;
mod error;
mod external_id;
mod health;
mod kms;
mod mode;
mod name;
mod prefix;
mod region;
mod role_arn;
mod spec;
mod tenant;

pub use bucket::BucketName;
pub use endpoint::Endpoint;
pub use endpoint_id::EndpointId;
pub(crate) use error::truncate_for_echo;
pub use error::{ErrorCollector, FieldError, ValidationErrors};
pub use external_id::ExternalId;
pub use health::{Health, HealthFailure, HealthState};
pub use kms::KmsKeyArn;
pub use mode::{AccessMode, Feature};
pub use name::{Description, EndpointName};
pub use prefix::{
    Prefix, MAX_OBJECT_KEY_BYTES, MAX_PREFIX_BYTES, TEST_OBJECT_FOLDER,
    TEST_OBJECT_KEY_RESERVED_BYTES,
};
pub use region::{Partition, Region};
pub use role_arn::RoleArn;
pub(crate) use role_arn::{check_iam_name, check_iam_path, is_iam_name_byte, split_path_and_name};
pub(crate) use spec::{
    check_kms_key_location, parse_bucket, parse_kms_key_arn, parse_mode, parse_prefix, parse_region,
};
pub use spec::{ConnectionInput, ConnectionSpec, EndpointInput, EndpointSpec};
pub use tenant::TenantId;
