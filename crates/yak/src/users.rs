//! `yak users`: SCRAM users over the HTTP API (`/users`). `list` prints a table or, with
//! `--json`, the node's JSON.
//!
//! The new user's password is never a flag: it comes from `--new-password-file`,
//! `YAK_NEW_PASSWORD`, or the first line of standard input.

use std::io::{BufRead, IsTerminal};
use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use yak_api::UpsertUserRequest;

use crate::cluster::columns;
use crate::topics::{print, BrokerUrl};

/// Where `users add` finds the new password when no file is given.
pub const NEW_PASSWORD_VARIABLE: &str = "YAK_NEW_PASSWORD";

#[derive(Debug, Args)]
pub struct UsersArgs {
    #[command(flatten)]
    pub target: BrokerUrl,
    /// Print the node's JSON instead of a table.
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: UsersCommand,
}

#[derive(Debug, Subcommand)]
pub enum UsersCommand {
    /// Every user with its SCRAM mechanisms and iterations (never a credential).
    List,
    /// Create a user or set its password. The password comes from --new-password-file,
    /// YAK_NEW_PASSWORD or the first line of standard input.
    Add {
        name: String,
        #[arg(long)]
        new_password_file: Option<PathBuf>,
        /// SCRAM-SHA-256 or SCRAM-SHA-512; repeatable; both when absent.
        #[arg(long = "mechanism", value_name = "MECHANISM")]
        mechanisms: Vec<String>,
        /// PBKDF2 iterations (4096 to 16384; the node's default when absent).
        #[arg(long)]
        iterations: Option<u32>,
    },
    /// Delete a user and its credentials.
    Delete { name: String },
}

/// The new password: the file's first line, else the variable, else standard input's first line.
fn new_password(file: Option<&PathBuf>) -> anyhow::Result<String> {
    let password = if let Some(path) = file {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read --new-password-file {}", path.display()))?;
        text.lines().next().unwrap_or_default().to_string()
    } else if let Ok(password) = std::env::var(NEW_PASSWORD_VARIABLE) {
        password
    } else {
        if std::io::stdin().is_terminal() {
            // No echo control without another crate: say so, rather than hang silently.
            eprint!("new password (shown as typed; pipe it in or use --new-password-file to avoid that): ");
        }
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .context("cannot read the new password from standard input")?;
        line.trim_end_matches(['\r', '\n']).to_string()
    };
    if password.is_empty() {
        bail!(
            "the new password is empty: give --new-password-file, set {NEW_PASSWORD_VARIABLE}, or pipe it in"
        );
    }
    Ok(password)
}

pub async fn run(args: UsersArgs) -> anyhow::Result<()> {
    let client = args.target.client()?;
    match args.command {
        UsersCommand::List => {
            let list = client.users().await?;
            if args.json {
                return print(&list);
            }
            let mut rows = vec![vec!["USER".to_string(), "MECHANISMS".to_string()]];
            for user in &list.users {
                let mechanisms: Vec<String> = user
                    .mechanisms
                    .iter()
                    .map(|m| format!("{} ({} iterations)", m.mechanism, m.iterations))
                    .collect();
                rows.push(vec![user.name.clone(), mechanisms.join(", ")]);
            }
            print!("{}", columns(&rows));
            Ok(())
        }
        UsersCommand::Add {
            name,
            new_password_file,
            mechanisms,
            iterations,
        } => {
            let request = UpsertUserRequest {
                name: name.clone(),
                password: new_password(new_password_file.as_ref())?,
                mechanisms: (!mechanisms.is_empty()).then_some(mechanisms),
                iterations,
            };
            client.upsert_user(&request).await?;
            report(args.json, "added", &name)
        }
        UsersCommand::Delete { name } => {
            client.delete_user(&name).await?;
            report(args.json, "deleted", &name)
        }
    }
}

fn report(json: bool, what: &str, name: &str) -> anyhow::Result<()> {
    if json {
        print(&serde_json::json!({ "user": name, what: true }))
    } else {
        println!("{what} user {name}");
        Ok(())
    }
}
