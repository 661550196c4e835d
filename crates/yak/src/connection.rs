//! The flags every command that talks to a node shares: who the user is and which CA to trust.
//!
//! A password is never a flag (it would show in `ps` and shell history): it comes from
//! `--password-file` or `YAK_PASSWORD`. A token may be a flag, as `kafka-*` tools allow, but
//! `YAK_TOKEN` keeps it out of the process list too.

use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::Args;
use yak_client::{Client, ClientOptions, Credentials};

/// The environment variable that holds the password of `--user` when no file is given.
pub const PASSWORD_VARIABLE: &str = "YAK_PASSWORD";

#[derive(Debug, Clone, Default, Args)]
pub struct Connection {
    /// Log in as this user (HTTP Basic); the password comes from --password-file or
    /// YAK_PASSWORD.
    #[arg(long, env = "YAK_USER", global = true)]
    pub user: Option<String>,
    /// File whose first line is the password of --user.
    #[arg(long, env = "YAK_PASSWORD_FILE", global = true, requires = "user")]
    pub password_file: Option<PathBuf>,
    /// A bearer token from `yak tokens create`, instead of --user.
    #[arg(
        long,
        env = "YAK_TOKEN",
        hide_env_values = true,
        global = true,
        conflicts_with = "user"
    )]
    pub token: Option<String>,
    /// PEM file of the CA that signed the nodes' certificates, for https:// URLs (the system's
    /// trust store when absent).
    #[arg(long, env = "YAK_CA_FILE", global = true)]
    pub ca_file: Option<PathBuf>,
}

impl Connection {
    /// The client options these flags ask for; `password_from_environment` is YAK_PASSWORD.
    pub fn options(
        &self,
        password_from_environment: Option<String>,
    ) -> anyhow::Result<ClientOptions> {
        let credentials = match (&self.user, &self.token) {
            (Some(_), Some(_)) => bail!("give either --user or --token, not both"),
            (Some(user), None) => Credentials::Basic {
                user: user.clone(),
                password: self.password(password_from_environment)?,
            },
            (None, Some(token)) => Credentials::Bearer {
                token: token.trim().to_string(),
            },
            (None, None) => Credentials::None,
        };
        Ok(ClientOptions {
            credentials,
            ca_file: self.ca_file.clone(),
        })
    }

    fn password(&self, from_environment: Option<String>) -> anyhow::Result<String> {
        if let Some(path) = &self.password_file {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read --password-file {}", path.display()))?;
            // The first line, without its line ending: `echo secret > file` works.
            return Ok(text.lines().next().unwrap_or_default().to_string());
        }
        match from_environment {
            Some(password) => Ok(password),
            None => bail!(
                "--user needs a password: give --password-file FILE or set {PASSWORD_VARIABLE}"
            ),
        }
    }

    /// A client for `brokers` (comma-separated URLs) with these credentials.
    pub fn client(&self, brokers: &str) -> anyhow::Result<Client> {
        let options = self.options(std::env::var(PASSWORD_VARIABLE).ok())?;
        Ok(Client::with_options(&[brokers], &options)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A password file's first line is the password; its line ending is not part of it.
    #[test]
    fn password_file_first_line_without_newline() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let path = dir.path().join("password");
        std::fs::write(&path, "s3cret\n").expect("write");
        let connection = Connection {
            user: Some("alice".into()),
            password_file: Some(path),
            ..Connection::default()
        };
        let options = connection.options(Some("ignored".into())).expect("options");
        assert_eq!(
            options.credentials,
            Credentials::Basic {
                user: "alice".into(),
                password: "s3cret".into()
            }
        );
    }

    /// Without a file the password comes from the environment; without either it is an error.
    #[test]
    fn password_from_environment_or_error() {
        let connection = Connection {
            user: Some("alice".into()),
            ..Connection::default()
        };
        let options = connection
            .options(Some("env-pass".into()))
            .expect("options");
        assert_eq!(
            options.credentials,
            Credentials::Basic {
                user: "alice".into(),
                password: "env-pass".into()
            }
        );
        let error = connection.options(None).unwrap_err().to_string();
        assert!(error.contains(PASSWORD_VARIABLE), "{error}");
    }

    /// No flags: no credentials, so a node without authentication works as before.
    #[test]
    fn no_flags_no_credentials() {
        let options = Connection::default()
            .options(Some("x".into()))
            .expect("options");
        assert_eq!(options.credentials, Credentials::None);
    }
}
