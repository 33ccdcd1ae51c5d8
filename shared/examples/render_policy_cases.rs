//! Writes the rendered policies and templates of every test case to a folder, for
//! `scripts/lint-policies.sh` to run the IAM and CloudFormation linters over.
//!
//! Usage: `cargo run -p endpoint-core --example render_policy_cases -- OUTPUT_DIR`. Each case
//! `<case>` writes these files:
//!
//! - `trust/<case>.json`: the trust policy as rendered.
//! - `trust-with-resource/<case>.json`: the same with the role's ARN as `Resource`. IAM reads
//!   the role a trust policy is attached to as its resource, but parliament lints every
//!   document as an identity policy and stops at a statement without `Resource`, so only this
//!   copy gets its actions and condition keys checked.
//! - `permissions/<case>.json`: the permissions policy.
//! - `templates/<case>.json`: the CloudFormation template.

#[path = "../tests/policy_cases/mod.rs"]
mod policy_cases;

use endpoint_core::policy::{render, PolicyBundle};
use policy_cases::PolicyCase;
use serde_json::Value;
use std::error::Error;
use std::fs;
use std::path::{Path, PathBuf};

const FOLDERS: [&str; 4] = ["trust", "trust-with-resource", "permissions", "templates"];

fn main() -> Result<(), Box<dyn Error>> {
    let Some(output_dir) = std::env::args_os().nth(1).map(PathBuf::from) else {
        return Err("usage: render_policy_cases OUTPUT_DIR".into());
    };
    for folder in FOLDERS {
        fs::create_dir_all(output_dir.join(folder))?;
    }

    let cases = policy_cases::all_cases();
    for case in &cases {
        let bundle = render(&case.request, &case.platform, &case.external_id)?;
        write_case(&output_dir, case, &bundle)?;
    }
    println!("wrote {} cases to {}", cases.len(), output_dir.display());
    Ok(())
}

fn write_case(
    output_dir: &Path,
    case: &PolicyCase,
    bundle: &PolicyBundle,
) -> Result<(), Box<dyn Error>> {
    let file_name = format!("{}.json", case.name);

    let partition = case.request.region.partition();
    let role_arn = format!(
        "arn:{partition}:iam::123456789012:role/{}",
        bundle.role_name
    );
    let trust_with_resource = with_resource(serde_json::to_value(&bundle.trust_policy)?, &role_arn);

    fs::write(
        output_dir.join("trust").join(&file_name),
        serde_json::to_string_pretty(&bundle.trust_policy)?,
    )?;
    fs::write(
        output_dir.join("trust-with-resource").join(&file_name),
        serde_json::to_string_pretty(&trust_with_resource)?,
    )?;
    fs::write(
        output_dir.join("permissions").join(&file_name),
        serde_json::to_string_pretty(&bundle.permissions_policy)?,
    )?;
    fs::write(
        output_dir.join("templates").join(&file_name),
        &bundle.cloudformation,
    )?;
    Ok(())
}

/// Adds `Resource: resource` to every statement of a policy document.
fn with_resource(mut document: Value, resource: &str) -> Value {
    if let Some(statements) = document["Statement"].as_array_mut() {
        for statement in statements {
            statement["Resource"] = Value::from(resource);
        }
    }
    document
}
