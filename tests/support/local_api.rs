//! local-api: the development-only HTTP server that serves the API's routes on 127.0.0.1 with
//! the real handlers, and mints tokens for it. It is never deployed.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use endpoint_core::domain::TenantId;
use s3_endpoints::api_server::functions::LambdaFunctions;
use s3_endpoints::api_server::token::default_key_file;
use s3_endpoints::api_server::{
    LocalServer, TokenKey, TokenRequest, DEFAULT_TENANT_CLAIM, DEFAULT_TOKEN_TTL,
};
use s3_endpoints::cli::Flags;
use tracing::{error, info};

const USAGE: &str = "\
usage:
  local-api serve [--port PORT] [--address-file PATH]
  local-api token --tenant TENANT [--subject SUBJECT] [--ttl-seconds SECONDS]

serve   Serves every route of template.yaml on 127.0.0.1:PORT (default: LOCAL_API_PORT, else
        3000; 0 picks a free port) with the real handlers. Needs the local stack's settings
        (source .local/stack.env) and TABLE_NAME, PLATFORM_PRINCIPAL_ARN and PLATFORM_NAME.
        Writes a new token signing key at start-up, so tokens from an earlier run stop working.
        --address-file writes the base URL to PATH once the server listens.
token   Prints a token for TENANT that the running server accepts, valid for SECONDS
        (default 43200, 12 hours; at most 604800, 7 days). SUBJECT defaults to local-user.
        The tenant claim is TENANT_CLAIM, else tenant_id, as in the functions.

LOCAL_API_KEY_FILE sets the key file (default .local/local-api/token-key in the repository).";

#[tokio::main]
async fn main() -> ExitCode {
    let arguments: Vec<String> = std::env::args().skip(1).collect();

    // Help is asked for anywhere on the line, so `local-api token --help` shows the usage
    // rather than an error about an unknown argument.
    if arguments
        .iter()
        .any(|argument| argument == "--help" || argument == "-h")
    {
        println!("{USAGE}");
        return ExitCode::SUCCESS;
    }

    let result = match arguments.split_first() {
        Some((command, rest)) if command == "serve" => serve(rest).await,
        Some((command, rest)) if command == "token" => token(rest),
        Some((command, _)) => Err(with_usage(format!("unknown command {command:?}"))),
        None => Err(with_usage("expected a command".to_owned())),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("local-api: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(arguments: &[String]) -> Result<(), String> {
    init_logging();
    let options = Flags::parse(arguments, &["--port", "--address-file"]).map_err(with_usage)?;
    let port = match options.value("--port") {
        Some(port) => parse_port(port)?,
        None => match std::env::var("LOCAL_API_PORT") {
            Ok(port) if !port.is_empty() => parse_port(&port)?,
            _ => 3000,
        },
    };

    let functions = LambdaFunctions::from_env()
        .await
        .map_err(|error| error.to_string())?;
    let key = TokenKey::generate().map_err(|error| format!("random source failed: {error}"))?;
    key.write_to(&default_key_file())
        .map_err(|error| error.to_string())?;

    let address = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let runtime = tokio::runtime::Handle::current();
    let server = LocalServer::start(address, key, Arc::new(functions), runtime)
        .map_err(|error| error.to_string())?;
    if let Some(path) = options.value("--address-file") {
        write_address_file(Path::new(path), &server.url())?;
    }
    println!("local API serving at {}", server.url());

    wait_for_shutdown().await;
    info!("shutting down");
    drop(server);
    Ok(())
}

fn token(arguments: &[String]) -> Result<(), String> {
    let options =
        Flags::parse(arguments, &["--tenant", "--subject", "--ttl-seconds"]).map_err(with_usage)?;
    let tenant = options.required("--tenant").map_err(with_usage)?;

    // The functions return 401 for a token whose tenant they cannot parse, so such a token is
    // rejected here, where the error can name the reason.
    if let Err(error) = TenantId::parse(tenant) {
        return Err(format!("--tenant {tenant:?} is invalid: {}", error.message));
    }

    let ttl = match options.value("--ttl-seconds") {
        Some(seconds) => parse_ttl(seconds)?,
        None => DEFAULT_TOKEN_TTL,
    };
    let subject = options.value("--subject").unwrap_or("local-user");
    if subject.is_empty() {
        return Err(
            "--subject is empty; the functions reject a token without a subject, so \
                    leave --subject out or name a user"
                .to_owned(),
        );
    }
    let tenant_claim = std::env::var("TENANT_CLAIM")
        .ok()
        .filter(|claim| !claim.is_empty())
        .unwrap_or_else(|| DEFAULT_TENANT_CLAIM.to_owned());

    let key = TokenKey::read_from(&default_key_file()).map_err(|error| error.to_string())?;
    let token = key.issue(&TokenRequest {
        tenant,
        subject,
        tenant_claim: &tenant_claim,
        ttl,
    });
    println!("{token}");
    Ok(())
}

/// The maximum token lifetime that `token` issues: a week, far beyond any local session.
const MAX_TOKEN_TTL_SECONDS: u64 = 7 * 24 * 60 * 60;

fn parse_ttl(seconds: &str) -> Result<Duration, String> {
    match seconds.parse::<u64>() {
        Ok(parsed) if (1..=MAX_TOKEN_TTL_SECONDS).contains(&parsed) => {
            Ok(Duration::from_secs(parsed))
        }
        _ => Err(format!(
            "--ttl-seconds {seconds:?} is invalid; give a whole number of seconds from 1 to \
             {MAX_TOKEN_TTL_SECONDS} (7 days)"
        )),
    }
}

fn with_usage(message: String) -> String {
    format!("{message}\n{USAGE}")
}

fn parse_port(text: &str) -> Result<u16, String> {
    text.parse()
        .map_err(|_| format!("port {text:?} is not a number from 0 to 65535"))
}

fn write_address_file(path: &Path, url: &str) -> Result<(), String> {
    let temporary = path.with_extension("tmp");
    std::fs::write(&temporary, format!("{url}\n"))
        .and_then(|()| std::fs::rename(&temporary, path))
        .map_err(|error| format!("writing {} failed: {error}", path.display()))
}

/// Logs as text on stderr at the level of RUST_LOG, `info` when unset, in colour only on a
/// terminal.
fn init_logging() {
    use std::io::IsTerminal;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
}

async fn wait_for_shutdown() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut terminate = match signal(SignalKind::terminate()) {
        Ok(terminate) => terminate,
        Err(failure) => {
            error!(%failure, "cannot listen for SIGTERM; stop the server with Ctrl-C");
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = terminate.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}
