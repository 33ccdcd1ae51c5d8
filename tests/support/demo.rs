//! demo: creates the endpoints table for the local API server, and plays one customer through
//! the whole flow against that server. `scripts/demo.sh` runs both.

use std::process::ExitCode;

use endpoint_core::store::schema;
use s3_endpoints::api_server::token::default_key_file;
use s3_endpoints::api_server::{TokenKey, TokenRequest, DEFAULT_TENANT_CLAIM, DEFAULT_TOKEN_TTL};
use s3_endpoints::cli::Flags;
use s3_endpoints::walkthrough::{InProcessRevalidation, Settings, Walkthrough};
use s3_endpoints::{dynamodb_client, stack};

const USAGE: &str = "\
usage:
  demo create-table --table NAME
  demo run --api URL --table NAME [--tenant TENANT]

create-table  Creates the endpoints table NAME in DynamoDB Local from the definition that
              template.yaml deploys. An existing table is left as it is.
run           Plays a customer of TENANT (default acme) through the flow against the local
              API server at URL, with a token signed by the server's key, and revalidates the
              endpoints of table NAME in this process.

Both need the local stack's settings: source .local/stack.env first.";

#[tokio::main]
async fn main() -> ExitCode {
    let arguments: Vec<String> = std::env::args().skip(1).collect();
    let result = match arguments.split_first() {
        Some((command, rest)) if command == "create-table" => create_table(rest).await,
        Some((command, rest)) if command == "run" => run(rest).await,
        _ => Err(format!("expected a command\n{USAGE}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("demo: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn create_table(arguments: &[String]) -> Result<(), String> {
    let options = Flags::parse(arguments, &["--table"]).map_err(with_usage)?;
    let table = options.required("--table").map_err(with_usage)?;
    let client = dynamodb_client(&stack().platform_config());

    let exists = client
        .describe_table()
        .table_name(table)
        .send()
        .await
        .is_ok();
    if exists {
        println!("table {table} exists");
        return Ok(());
    }
    schema::create_table(&client, table)
        .await
        .map_err(|error| error.to_string())?;
    println!("created table {table} from the definition that template.yaml deploys");
    Ok(())
}

async fn run(arguments: &[String]) -> Result<(), String> {
    let options = Flags::parse(arguments, &["--api", "--table", "--tenant"]).map_err(with_usage)?;
    let api_url = options.required("--api").map_err(with_usage)?;
    let table = options.required("--table").map_err(with_usage)?;
    let tenant = options.value("--tenant").unwrap_or("acme");
    if !api_url.starts_with("http://127.0.0.1:") {
        return Err(format!(
            "--api {api_url} is not a local API server on http://127.0.0.1"
        ));
    }

    let key = TokenKey::read_from(&default_key_file()).map_err(|error| error.to_string())?;
    let token = key.issue(&TokenRequest {
        tenant,
        subject: "demo-user",
        tenant_claim: DEFAULT_TENANT_CLAIM,
        ttl: DEFAULT_TOKEN_TTL,
    });
    let settings = Settings::new(api_url, &token, tenant, stack().customer_account_id());
    let revalidation = InProcessRevalidation::from_env(table)
        .await
        .map_err(|error| error.to_string())?;

    Walkthrough::new(settings, &revalidation)
        .run()
        .await
        .map(|_| ())
        .map_err(|error| error.to_string())
}

fn with_usage(message: String) -> String {
    format!("{message}\n{USAGE}")
}
