//! The five function binaries as `template.yaml` deploys them, and the environment a local
//! run gives each one.

use std::time::Duration;

/// One deployed function: its binary name and the settings that `template.yaml` gives it.
#[derive(Debug, Clone, Copy)]
pub struct FunctionInfo {
    pub name: &'static str,
    pub memory_mb: u32,
    pub timeout: Duration,
    /// Whether the function calls STS and S3 as well as DynamoDB, which sets its size target.
    pub uses_sts_and_s3: bool,
    /// The boto3 clients that the Python stand-in builds for this function's initialization.
    pub python_clients: &'static str,
    /// Variables of this function beyond `TABLE_NAME`, with the template's default values.
    pub extra_env: &'static [(&'static str, &'static str)],
}

/// The functions, with memory, timeout and variables copied from `template.yaml`.
pub const FUNCTIONS: [FunctionInfo; 5] = [
    FunctionInfo {
        name: "render-policy",
        memory_mb: 256,
        timeout: Duration::from_secs(10),
        uses_sts_and_s3: false,
        python_clients: "dynamodb",
        extra_env: &[("PLATFORM_NAME", "CostPlatform")],
    },
    FunctionInfo {
        name: "list-endpoints",
        memory_mb: 256,
        timeout: Duration::from_secs(10),
        uses_sts_and_s3: false,
        python_clients: "dynamodb",
        extra_env: &[],
    },
    FunctionInfo {
        name: "test-endpoint",
        memory_mb: 512,
        timeout: Duration::from_secs(25),
        uses_sts_and_s3: true,
        python_clients: "dynamodb,sts,s3",
        extra_env: &[],
    },
    FunctionInfo {
        name: "create-endpoint",
        memory_mb: 512,
        timeout: Duration::from_secs(25),
        uses_sts_and_s3: true,
        python_clients: "dynamodb,sts,s3",
        extra_env: &[],
    },
    FunctionInfo {
        name: "revalidate-endpoints",
        memory_mb: 512,
        timeout: Duration::from_secs(900),
        uses_sts_and_s3: true,
        python_clients: "dynamodb,sts,s3,events",
        extra_env: &[
            ("EVENT_BUS_NAME", "default"),
            ("REVALIDATE_CONCURRENCY", "8"),
            ("STS_MAX_REQUESTS_PER_SECOND", "20"),
        ],
    },
];

/// The variables of the local stack that every function process inherits: region,
/// credentials and endpoint overrides. `scripts/stack.sh start` writes them.
const STACK_VARIABLES: [&str; 16] = [
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_EC2_METADATA_DISABLED",
    "AWS_CONFIG_FILE",
    "AWS_SHARED_CREDENTIALS_FILE",
    "NO_PROXY",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_DYNAMODB",
    "AWS_ENDPOINT_URL_S3",
    "AWS_ENDPOINT_URL_STS",
    "AWS_ENDPOINT_URL_IAM",
    "AWS_ENDPOINT_URL_EVENTBRIDGE",
    "PLATFORM_PRINCIPAL_ARN",
];

/// Builds the complete environment of a function process: the stack's variables, the ones
/// Lambda sets, `TABLE_NAME` and `extra`. Fails when a stack variable is missing or an
/// endpoint override is not a loopback URL, so that no process can reach AWS.
pub fn lambda_env(
    function_name: &str,
    memory_mb: u32,
    table: &str,
    extra: &[(&str, &str)],
) -> Result<Vec<(String, String)>, String> {
    let mut env = Vec::new();
    for name in STACK_VARIABLES {
        let value = std::env::var(name).map_err(|_| {
            format!("{name} is not set: source .local/stack.env, or run scripts/bench.sh")
        })?;
        if name.starts_with("AWS_ENDPOINT_URL") && !is_loopback_url(&value) {
            return Err(format!("{name} is {value}, which is not a loopback URL"));
        }
        env.push((name.to_owned(), value));
    }
    let lambda = [
        ("AWS_LAMBDA_FUNCTION_NAME", function_name.to_owned()),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".to_owned()),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", memory_mb.to_string()),
        (
            "AWS_LAMBDA_LOG_GROUP_NAME",
            format!("/aws/lambda/{function_name}"),
        ),
        ("AWS_LAMBDA_LOG_STREAM_NAME", "bench".to_owned()),
        ("AWS_LAMBDA_LOG_FORMAT", "JSON".to_owned()),
        ("AWS_LAMBDA_LOG_LEVEL", "INFO".to_owned()),
        ("AWS_EXECUTION_ENV", "AWS_Lambda_provided.al2023".to_owned()),
        ("LAMBDA_TASK_ROOT", "/var/task".to_owned()),
        ("_HANDLER", "bootstrap".to_owned()),
        ("TZ", ":UTC".to_owned()),
        ("LANG", "en_US.UTF-8".to_owned()),
        ("TABLE_NAME", table.to_owned()),
    ];
    env.extend(lambda.map(|(name, value)| (name.to_owned(), value)));
    env.extend(
        extra
            .iter()
            .map(|(name, value)| ((*name).to_owned(), (*value).to_owned())),
    );
    Ok(env)
}

fn is_loopback_url(url: &str) -> bool {
    ["http://127.0.0.1:", "http://localhost:", "http://[::1]:"]
        .iter()
        .any(|prefix| url.starts_with(prefix))
}
