//! `yak broker`'s security settings: the `[security]` block of the TOML file, the same names as
//! flags (`--tls-cert-file`) and variables (`YAK_TLS_CERT_FILE`). Passwords come from files or
//! from variables, never from flags (a flag shows in `ps`).

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use clap::Args;
use serde::Deserialize;
use yak_auth::tls::{ClientAuth, TlsFiles};
use yak_broker::security::{KafkaListener, Secret, SecurityConfig, SecurityLimits};
use yak_kafka::session::SaslMechanism;
use yak_kafka::SecurityProtocol;

#[derive(Debug, Clone, Default, Args, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecurityArgs {
    /// Kafka listeners, as Kafka writes them:
    /// `PLAINTEXT://127.0.0.1:9092,SASL_SSL://0.0.0.0:9093` (one per security protocol).
    /// Without it, one PLAINTEXT listener at --kafka.
    #[arg(long, env = "YAK_LISTENERS")]
    pub listeners: Option<String>,
    /// The addresses clients are told, per listener: `SASL_SSL://broker1.example.com:9093,…`.
    #[arg(long, env = "YAK_ADVERTISED_LISTENERS")]
    pub advertised_listeners: Option<String>,
    /// The listener nodes replicate over (default: the first listener).
    #[arg(long, env = "YAK_INTER_BROKER_LISTENER")]
    pub inter_broker_listener: Option<String>,
    /// PEM certificate chain of this node (SSL and SASL_SSL listeners, HTTPS).
    #[arg(long, env = "YAK_TLS_CERT_FILE")]
    pub tls_cert_file: Option<PathBuf>,
    /// PEM private key of this node.
    #[arg(long, env = "YAK_TLS_KEY_FILE")]
    pub tls_key_file: Option<PathBuf>,
    /// PEM CA certificates that sign client certificates (and the other nodes' certificates).
    #[arg(long, env = "YAK_TLS_CA_FILE")]
    pub tls_ca_file: Option<PathBuf>,
    /// none, requested or required: client certificates (mTLS; `User:CN` is the principal).
    #[arg(long, env = "YAK_TLS_CLIENT_AUTH")]
    pub tls_client_auth: Option<String>,
    /// Serve the HTTP API and console over HTTPS.
    #[arg(long, env = "YAK_HTTP_TLS")]
    pub http_tls: Option<bool>,
    /// HTTP requests need credentials; the console shows a login page.
    #[arg(long, env = "YAK_AUTHENTICATION")]
    pub authentication: Option<bool>,
    /// ACLs decide every request (deny by default); needs authentication.
    #[arg(long, env = "YAK_AUTHORIZATION")]
    pub authorization: Option<bool>,
    /// Principals allowed everything: `User:admin,User:yak-node`.
    #[arg(long, env = "YAK_SUPER_USERS")]
    pub super_users: Option<String>,
    /// Kafka's allow.everyone.if.no.acl.found: a resource without ACLs is open.
    #[arg(long, env = "YAK_ALLOW_EVERYONE_IF_NO_ACL_FOUND")]
    pub allow_everyone_if_no_acl_found: Option<bool>,
    /// SASL mechanisms offered: SCRAM-SHA-512,SCRAM-SHA-256,PLAIN.
    #[arg(long, env = "YAK_SASL_MECHANISMS")]
    pub sasl_mechanisms: Option<String>,
    /// A user created at start-up if missing (its password from --bootstrap-password-file or
    /// YAK_BOOTSTRAP_PASSWORD).
    #[arg(long, env = "YAK_BOOTSTRAP_USER")]
    pub bootstrap_user: Option<String>,
    #[arg(long, env = "YAK_BOOTSTRAP_PASSWORD_FILE")]
    pub bootstrap_password_file: Option<PathBuf>,
    /// The user this node logs in as on the other nodes' inter-broker listener (password from
    /// --inter-broker-password-file or YAK_INTER_BROKER_PASSWORD).
    #[arg(long, env = "YAK_INTER_BROKER_USER")]
    pub inter_broker_user: Option<String>,
    #[arg(long, env = "YAK_INTER_BROKER_PASSWORD_FILE")]
    pub inter_broker_password_file: Option<PathBuf>,
    /// Open Kafka connections per client address (Kafka's max.connections.per.ip).
    #[arg(long, env = "YAK_CONNECTIONS_PER_ADDRESS_MAX")]
    pub connections_per_address_max: Option<usize>,
    /// Requests per second per client address, Kafka and HTTP each.
    #[arg(long, env = "YAK_REQUESTS_PER_S_PER_ADDRESS")]
    pub requests_per_s_per_address: Option<u32>,
    /// Longest delay before a failed login is answered (it doubles per failure in a row).
    #[arg(long, env = "YAK_LOGIN_FAILURE_DELAY_MS_MAX")]
    pub login_failure_delay_ms_max: Option<u64>,
}

macro_rules! layer {
    ($flags:expr, $file:expr, $($field:ident),*) => {
        $( if $flags.$field.is_none() { $flags.$field = $file.$field.clone(); } )*
    };
}

/// Reads a password: the file's first line, or the variable.
pub(crate) fn password(
    file: Option<&Path>,
    variable: &str,
    what: &str,
) -> anyhow::Result<Option<Secret>> {
    if let Some(path) = file {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the {what} password file {}", path.display()))?;
        let line = text.lines().next().unwrap_or_default().to_string();
        if line.is_empty() {
            bail!("the {what} password file {} is empty", path.display());
        }
        return Ok(Some(Secret(line)));
    }
    Ok(std::env::var(variable)
        .ok()
        .filter(|v| !v.is_empty())
        .map(Secret))
}

/// `PROTOCOL://host:port,…` into (protocol, address text) pairs.
fn parse_listeners(text: &str, flag: &str) -> anyhow::Result<Vec<(SecurityProtocol, String)>> {
    text.split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .map(|item| {
            let (name, address) = item
                .split_once("://")
                .with_context(|| format!("{flag}: {item:?} is not PROTOCOL://host:port"))?;
            let protocol = SecurityProtocol::parse(name).with_context(|| {
                format!("{flag}: {name:?} is not PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL")
            })?;
            Ok((protocol, address.to_string()))
        })
        .collect()
}

impl SecurityArgs {
    /// Flags and variables over the file's `[security]` block.
    pub fn layer(&mut self, file: &SecurityArgs) {
        layer!(
            self,
            file,
            listeners,
            advertised_listeners,
            inter_broker_listener,
            tls_cert_file,
            tls_key_file,
            tls_ca_file,
            tls_client_auth,
            http_tls,
            authentication,
            authorization,
            super_users,
            allow_everyone_if_no_acl_found,
            sasl_mechanisms,
            bootstrap_user,
            bootstrap_password_file,
            inter_broker_user,
            inter_broker_password_file,
            connections_per_address_max,
            requests_per_s_per_address,
            login_failure_delay_ms_max
        );
    }

    pub fn into_config(self) -> anyhow::Result<SecurityConfig> {
        let defaults = SecurityConfig::default();
        let advertised = match &self.advertised_listeners {
            Some(text) => parse_listeners(text, "--advertised-listeners")?,
            None => Vec::new(),
        };
        let kafka_listeners = match &self.listeners {
            None => Vec::new(),
            Some(text) => parse_listeners(text, "--listeners")?
                .into_iter()
                .map(|(protocol, address)| {
                    let address = address.parse().with_context(|| {
                        format!("--listeners: {protocol}://{address} is not IP:port")
                    })?;
                    let advertised = advertised
                        .iter()
                        .find(|(p, _)| *p == protocol)
                        .map(|(_, a)| a.clone());
                    Ok(KafkaListener {
                        protocol,
                        address,
                        advertised,
                    })
                })
                .collect::<anyhow::Result<Vec<_>>>()?,
        };
        let tls = match (&self.tls_cert_file, &self.tls_key_file) {
            (Some(cert_file), Some(key_file)) => Some(TlsFiles {
                cert_file: cert_file.clone(),
                key_file: key_file.clone(),
                ca_file: self.tls_ca_file.clone(),
                client_auth: match &self.tls_client_auth {
                    None => ClientAuth::None,
                    Some(text) => ClientAuth::parse(text).with_context(|| {
                        format!("--tls-client-auth {text:?}: none, requested or required")
                    })?,
                },
            }),
            (None, None) => None,
            _ => bail!("--tls-cert-file and --tls-key-file go together"),
        };
        let sasl_mechanisms = match &self.sasl_mechanisms {
            None => defaults.sasl_mechanisms.clone(),
            Some(text) => text
                .split(',')
                .map(str::trim)
                .filter(|m| !m.is_empty())
                .map(|m| {
                    SaslMechanism::parse(m).with_context(|| {
                        format!(
                            "--sasl-mechanisms: {m:?} is not PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512"
                        )
                    })
                })
                .collect::<anyhow::Result<Vec<_>>>()?,
        };
        let inter_broker_listener = match &self.inter_broker_listener {
            None => None,
            Some(name) => Some(SecurityProtocol::parse(name).with_context(|| {
                format!("--inter-broker-listener {name:?} is not a security protocol")
            })?),
        };
        let bootstrap_user = match &self.bootstrap_user {
            None => None,
            Some(user) => {
                let secret = password(
                    self.bootstrap_password_file.as_deref(),
                    "YAK_BOOTSTRAP_PASSWORD",
                    "bootstrap",
                )?
                .with_context(|| {
                    format!("--bootstrap-user {user}: give its password in --bootstrap-password-file or YAK_BOOTSTRAP_PASSWORD")
                })?;
                Some((user.clone(), secret))
            }
        };
        let inter_broker_user = match &self.inter_broker_user {
            None => None,
            Some(user) => {
                let secret = password(
                    self.inter_broker_password_file.as_deref(),
                    "YAK_INTER_BROKER_PASSWORD",
                    "inter-broker",
                )?
                .with_context(|| {
                    format!("--inter-broker-user {user}: give its password in --inter-broker-password-file or YAK_INTER_BROKER_PASSWORD")
                })?;
                Some((user.clone(), secret))
            }
        };
        let limit_defaults = SecurityLimits::default();
        let authorization = self.authorization.unwrap_or(false);
        Ok(SecurityConfig {
            kafka_listeners,
            inter_broker_listener,
            tls,
            http_tls: self.http_tls.unwrap_or(false),
            authentication: self.authentication.unwrap_or(authorization),
            authorizer: yak_auth::AuthorizerConfig {
                enabled: authorization,
                super_users: self
                    .super_users
                    .as_deref()
                    .unwrap_or_default()
                    .split(',')
                    .map(str::trim)
                    .filter(|u| !u.is_empty())
                    .map(str::to_string)
                    .collect(),
                allow_everyone_if_no_acl_found: self
                    .allow_everyone_if_no_acl_found
                    .unwrap_or(false),
            },
            sasl_mechanisms,
            bootstrap_user,
            inter_broker_user,
            limits: SecurityLimits {
                connections_per_address_max: self
                    .connections_per_address_max
                    .unwrap_or(limit_defaults.connections_per_address_max),
                requests_per_s_per_address: self
                    .requests_per_s_per_address
                    .unwrap_or(limit_defaults.requests_per_s_per_address),
                login_failure_delay_ms_max: self
                    .login_failure_delay_ms_max
                    .unwrap_or(limit_defaults.login_failure_delay_ms_max),
                ..limit_defaults
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(args: SecurityArgs) -> anyhow::Result<SecurityConfig> {
        let config = args.into_config()?;
        config.validate().map_err(|e| anyhow::anyhow!(e))?;
        Ok(config)
    }

    /// Proves listeners parse as Kafka writes them, with their advertised addresses.
    #[test]
    fn listeners_parse_as_kafka_writes_them() {
        let parsed = config(SecurityArgs {
            listeners: Some("PLAINTEXT://127.0.0.1:9092, sasl_ssl://0.0.0.0:9093".into()),
            advertised_listeners: Some("SASL_SSL://broker1.example.com:9093".into()),
            tls_cert_file: Some("node.pem".into()),
            tls_key_file: Some("node.key".into()),
            ..SecurityArgs::default()
        })
        .expect("valid");
        assert_eq!(parsed.kafka_listeners.len(), 2);
        assert_eq!(
            parsed.kafka_listeners[1].protocol,
            SecurityProtocol::SaslSsl
        );
        assert_eq!(
            parsed.kafka_listeners[1].advertised.as_deref(),
            Some("broker1.example.com:9093")
        );
        assert_eq!(parsed.kafka_listeners[0].advertised, None);
    }

    /// Proves settings that cannot work are refused before start, each with the setting's name.
    #[test]
    fn impossible_settings_are_refused_by_name() {
        let refused = [
            (
                "--listeners",
                SecurityArgs {
                    listeners: Some("TLS://127.0.0.1:9093".into()),
                    ..SecurityArgs::default()
                },
            ),
            (
                "SASL_SSL needs tls_cert_file",
                SecurityArgs {
                    listeners: Some("SASL_SSL://127.0.0.1:9093".into()),
                    ..SecurityArgs::default()
                },
            ),
            (
                "appears twice",
                SecurityArgs {
                    listeners: Some("SSL://127.0.0.1:1,SSL://127.0.0.1:2".into()),
                    tls_cert_file: Some("n.pem".into()),
                    tls_key_file: Some("n.key".into()),
                    ..SecurityArgs::default()
                },
            ),
            (
                "--tls-cert-file and --tls-key-file",
                SecurityArgs {
                    tls_cert_file: Some("n.pem".into()),
                    ..SecurityArgs::default()
                },
            ),
            (
                "--bootstrap-user admin",
                SecurityArgs {
                    bootstrap_user: Some("admin".into()),
                    bootstrap_password_file: Some("/nonexistent/yak/password".into()),
                    ..SecurityArgs::default()
                },
            ),
        ];
        for (expected, args) in refused {
            let error = format!("{:#}", config(args).expect_err(expected));
            assert!(
                error.contains(expected) || error.contains("bootstrap password file"),
                "{expected}: {error}"
            );
        }
    }

    /// Proves authorization turns authentication on with it, and deny-by-default holds.
    #[test]
    fn authorization_implies_authentication() {
        let parsed = config(SecurityArgs {
            authorization: Some(true),
            super_users: Some("User:admin, User:yak-node".into()),
            ..SecurityArgs::default()
        })
        .expect("valid");
        assert!(parsed.authentication && parsed.authorizer.enabled);
        assert!(!parsed.authorizer.allow_everyone_if_no_acl_found);
        assert_eq!(parsed.authorizer.super_users.len(), 2);
    }
}
