//! Checks that the local AWS stack behaves as the service's tests rely on: DynamoDB Local
//! stores items, and moto evaluates trust policies and region errors as AWS does.

use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType,
    ScalarAttributeType,
};
use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_sts::error::SdkError;
use s3_endpoints::{
    assume_role_as_platform, create_customer_bucket, create_customer_role, dynamodb_client,
    platform_trust_policy, read_prefix_policy, s3_client, stack, unique_name,
};

#[tokio::test]
async fn dynamodb_local_stores_and_returns_item() {
    let dynamodb = dynamodb_client(&stack().platform_config());
    let table = unique_name("table");
    dynamodb
        .create_table()
        .table_name(&table)
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("id")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .unwrap(),
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("id")
                .key_type(KeyType::Hash)
                .build()
                .unwrap(),
        )
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await
        .expect("CreateTable failed");

    dynamodb
        .put_item()
        .table_name(&table)
        .item("id", AttributeValue::S("endpoint-1".into()))
        .item("bucket", AttributeValue::S("customer-bucket".into()))
        .send()
        .await
        .expect("PutItem failed");
    let output = dynamodb
        .get_item()
        .table_name(&table)
        .key("id", AttributeValue::S("endpoint-1".into()))
        .consistent_read(true)
        .send()
        .await
        .expect("GetItem failed");

    let item = output.item().expect("GetItem returned no item");
    assert_eq!(
        item.get("bucket"),
        Some(&AttributeValue::S("customer-bucket".into()))
    );
    dynamodb
        .delete_table()
        .table_name(&table)
        .send()
        .await
        .expect("DeleteTable failed");
}

#[tokio::test]
async fn platform_reads_object_through_customer_role() {
    let customer = stack().customer_account_id();
    let bucket =
        create_customer_bucket(customer, "eu-west-1", &[("reports/2026-01.csv", b"a,b\n")]).await;
    let role = create_customer_role(
        customer,
        &platform_trust_policy("external-id-1"),
        Some(&read_prefix_policy(&bucket, "reports/")),
    )
    .await;

    let credentials = assume_role_as_platform(&role.arn, Some("external-id-1"))
        .await
        .expect("AssumeRole with the right External ID failed");
    let s3 = s3_client(&stack().config_for(credentials, &bucket.region));
    let object = s3
        .get_object()
        .bucket(&bucket.name)
        .key("reports/2026-01.csv")
        .send()
        .await
        .expect("GetObject through the customer role failed");
    let body = object
        .body
        .collect()
        .await
        .expect("reading the body failed");

    assert_eq!(body.into_bytes().as_ref(), b"a,b\n");
}

#[tokio::test]
async fn wrong_external_id_is_access_denied() {
    let role = create_customer_role(
        stack().customer_account_id(),
        &platform_trust_policy("external-id-1"),
        None,
    )
    .await;

    let error = assume_role_as_platform(&role.arn, Some("external-id-2"))
        .await
        .expect_err("AssumeRole with a wrong External ID succeeded");

    let service_error = error.as_service_error().expect("expected a service error");
    assert_eq!(service_error.code(), Some("AccessDenied"));
    assert!(
        service_error
            .message()
            .is_some_and(|message| message.contains(&role.arn)),
        "message {:?} does not name the role",
        service_error.message()
    );
}

#[tokio::test]
async fn nonexistent_role_cannot_be_assumed() {
    let missing_role_arn = format!(
        "arn:aws:iam::{}:role/{}",
        stack().customer_account_id(),
        unique_name("missing")
    );

    let error = assume_role_as_platform(&missing_role_arn, Some("external-id-1"))
        .await
        .expect_err("AssumeRole of a role that does not exist succeeded");

    let service_error = error.as_service_error().expect("expected a service error");
    assert_eq!(service_error.code(), Some("AccessDenied"));
}

#[tokio::test]
async fn wrong_region_head_bucket_gets_301() {
    let customer = stack().customer_account_id();
    let bucket = create_customer_bucket(customer, "eu-west-1", &[]).await;
    let s3 = s3_client(&stack().admin_config_in(customer, "us-east-1"));

    let error = s3
        .head_bucket()
        .bucket(&bucket.name)
        .send()
        .await
        .expect_err("HeadBucket from the wrong region succeeded");

    let SdkError::ServiceError(context) = &error else {
        panic!("expected a service error, got {error:?}");
    };
    assert_eq!(context.raw().status().as_u16(), 301);
    assert_eq!(
        context.raw().headers().get("x-amz-bucket-region"),
        Some("eu-west-1")
    );
}
