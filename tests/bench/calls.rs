//! An SDK interceptor that records the operations a DynamoDB client sends, so that the
//! handler benchmark can show that each floor makes the same calls as its handler.

use aws_config::SdkConfig;
use aws_sdk_dynamodb::config::Intercept;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::BeforeSerializationInterceptorContextRef;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use endpoint_core::store::dynamo::ClientSettings;
use std::sync::{Arc, Mutex};

/// Operation names, such as `GetItem`, in the order the client sent them.
#[derive(Debug, Clone, Default)]
pub struct CallLog {
    calls: Arc<Mutex<Vec<String>>>,
}

impl CallLog {
    /// Builds a DynamoDB client with the store's settings that records into a new log.
    pub fn client(config: &SdkConfig) -> (Self, aws_sdk_dynamodb::Client) {
        let log = Self::default();
        let builder = ClientSettings::default()
            .apply(aws_sdk_dynamodb::config::Builder::from(config))
            .interceptor(log.clone());
        (log, aws_sdk_dynamodb::Client::from_conf(builder.build()))
    }

    pub fn clear(&self) {
        if let Ok(mut calls) = self.calls.lock() {
            calls.clear();
        }
    }

    /// Returns the recorded names and empties the log.
    pub fn take(&self) -> Vec<String> {
        match self.calls.lock() {
            Ok(mut calls) => std::mem::take(&mut *calls),
            Err(_) => Vec::new(),
        }
    }
}

impl Intercept for CallLog {
    fn name(&self) -> &'static str {
        "CallLog"
    }

    // The operation's metadata is in the bag only from this hook on, because a client
    // interceptor's `read_before_execution` runs before the operation's configuration is applied.
    fn read_before_serialization(
        &self,
        _context: &BeforeSerializationInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        config: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let name = config
            .load::<Metadata>()
            .map_or("unknown", Metadata::name)
            .to_owned();
        if let Ok(mut calls) = self.calls.lock() {
            calls.push(name);
        }
        Ok(())
    }
}
