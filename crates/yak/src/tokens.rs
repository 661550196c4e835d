//! `yak tokens`: bearer tokens over the HTTP API (`/auth/tokens`). A new token is printed once;
//! the node keeps only its digest.

use std::time::Duration;

use clap::{Args, Subcommand};
use yak_api::CreateTokenRequest;

use crate::cluster::columns;
use crate::topics::{print, BrokerUrl};

#[derive(Debug, Args)]
pub struct TokensArgs {
    #[command(flatten)]
    pub target: BrokerUrl,
    /// Print the node's JSON instead of a table.
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: TokensCommand,
}

#[derive(Debug, Subcommand)]
pub enum TokensCommand {
    /// A new token for the caller (or, for a super user, for --principal). Only its first
    /// appearance shows it: store it now.
    Create {
        /// A name to list and revoke it by.
        name: String,
        /// Whom the token stands for (super users only); the caller when absent.
        #[arg(long)]
        principal: Option<String>,
        /// How long it is valid (`30d`, `12h`); forever when absent.
        #[arg(long, value_parser = humantime::parse_duration)]
        expires_in: Option<Duration>,
    },
    /// The caller's tokens (every token for a super user), never the tokens themselves.
    List,
    /// Revoke a token by name.
    Revoke { name: String },
}

pub async fn run(args: TokensArgs) -> anyhow::Result<()> {
    let client = args.target.client()?;
    match args.command {
        TokensCommand::Create {
            name,
            principal,
            expires_in,
        } => {
            let request = CreateTokenRequest {
                name,
                principal,
                expires_in_ms: expires_in.map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
            };
            let created = client.create_token(&request).await?;
            if args.json {
                return print(&created);
            }
            // The token alone on stdout, so `TOKEN=$(yak tokens create ci)` works.
            println!("{}", created.token);
            eprintln!(
                "token {} for {} created; it is shown only this once",
                created.name, created.principal
            );
            Ok(())
        }
        TokensCommand::List => {
            let list = client.tokens().await?;
            if args.json {
                return print(&list);
            }
            let mut rows = vec![vec![
                "NAME".to_string(),
                "PRINCIPAL".to_string(),
                "CREATED".to_string(),
                "EXPIRES".to_string(),
            ]];
            for token in &list.tokens {
                rows.push(vec![
                    token.name.clone(),
                    token.principal.clone(),
                    time(token.created_ms),
                    token.expires_ms.map_or_else(|| "never".to_string(), time),
                ]);
            }
            print!("{}", columns(&rows));
            Ok(())
        }
        TokensCommand::Revoke { name } => {
            client.revoke_token(&name).await?;
            if args.json {
                print(&serde_json::json!({ "token": name, "revoked": true }))
            } else {
                println!("revoked token {name}");
                Ok(())
            }
        }
    }
}

/// Milliseconds since the Unix epoch as an RFC 3339 time, to the second.
fn time(ms: u64) -> String {
    let at = std::time::UNIX_EPOCH + Duration::from_millis(ms);
    humantime::format_rfc3339_seconds(at).to_string()
}
