//! A CloudFormation template that creates the customer's role with both policies.

use super::document::PolicyDocument;
use serde::Serialize;
use std::collections::BTreeMap;

/// The logical id of the role in the template.
const ROLE_LOGICAL_ID: &str = "EndpointRole";

#[derive(Serialize)]
struct Template<'a> {
    #[serde(rename = "AWSTemplateFormatVersion")]
    format_version: &'static str,
    #[serde(rename = "Description")]
    description: &'a str,
    #[serde(rename = "Resources")]
    resources: BTreeMap<&'static str, RoleResource<'a>>,
    #[serde(rename = "Outputs")]
    outputs: Outputs,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct RoleResource<'a> {
    #[serde(rename = "Type")]
    resource_type: &'static str,
    properties: RoleProperties<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct RoleProperties<'a> {
    role_name: &'a str,
    description: &'a str,
    assume_role_policy_document: &'a PolicyDocument,
    policies: [InlinePolicy<'a>; 1],
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct InlinePolicy<'a> {
    policy_name: &'a str,
    policy_document: &'a PolicyDocument,
}

#[derive(Serialize)]
struct Outputs {
    #[serde(rename = "RoleArn")]
    role_arn: Output,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Output {
    description: &'static str,
    value: GetAtt,
}

#[derive(Serialize)]
struct GetAtt {
    #[serde(rename = "Fn::GetAtt")]
    attribute: [&'static str; 2],
}

/// The role and policies the template creates.
pub(crate) struct RoleDefinition<'a> {
    pub role_name: &'a str,
    pub description: &'a str,
    pub policy_name: &'a str,
    pub trust_policy: &'a PolicyDocument,
    pub permissions_policy: &'a PolicyDocument,
}

/// Renders the template as indented JSON. Deploying it needs `CAPABILITY_NAMED_IAM`, because
/// the role has a fixed name.
pub(crate) fn template(role: &RoleDefinition<'_>) -> Result<String, serde_json::Error> {
    let template = Template {
        format_version: "2010-09-09",
        description: role.description,
        resources: BTreeMap::from([(ROLE_LOGICAL_ID, role_resource(role))]),
        outputs: Outputs {
            role_arn: Output {
                description: "The ARN to enter in the endpoint's role_arn field",
                value: GetAtt {
                    attribute: [ROLE_LOGICAL_ID, "Arn"],
                },
            },
        },
    };
    let mut text = serde_json::to_string_pretty(&template)?;
    text.push('\n');
    Ok(text)
}

fn role_resource<'a>(role: &RoleDefinition<'a>) -> RoleResource<'a> {
    RoleResource {
        resource_type: "AWS::IAM::Role",
        properties: RoleProperties {
            role_name: role.role_name,
            description: role.description,
            assume_role_policy_document: role.trust_policy,
            policies: [InlinePolicy {
                policy_name: role.policy_name,
                policy_document: role.permissions_policy,
            }],
        },
    }
}
