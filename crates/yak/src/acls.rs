//! `yak acls`: ACLs over the HTTP API (`/acls`), with the flags of Kafka's `kafka-acls`
//! (`--topic`, `--group`, `--cluster`, `--transactional-id`, `--resource-pattern-type`,
//! `--operation`). `list` prints a table or, with `--json`, the node's JSON.
//!
//! Names are checked here with the node's own parser, so a typo fails before any request; the
//! node checks them again.

use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use yak_api::{AclEntry, AclFilter, AclList};
use yak_auth::acl::{Operation, PatternFilter, PatternType, Permission};
use yak_auth::principal::Principal;

use crate::cluster::columns;
use crate::topics::{print, BrokerUrl};

/// The resource name Kafka gives the cluster.
const CLUSTER_RESOURCE_NAME: &str = "kafka-cluster";

#[derive(Debug, Args)]
pub struct AclsArgs {
    #[command(flatten)]
    pub target: BrokerUrl,
    /// Print the node's JSON instead of a table.
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: AclsCommand,
}

/// One resource, as `kafka-acls` names it.
#[derive(Debug, Args)]
#[group(id = "resource", multiple = false)]
pub struct ResourceArgs {
    /// A topic (`*` for every topic).
    #[arg(long)]
    pub topic: Option<String>,
    /// A consumer group (`*` for every group).
    #[arg(long)]
    pub group: Option<String>,
    /// A transactional id.
    #[arg(long)]
    pub transactional_id: Option<String>,
    /// The cluster itself (creating topics, managing users and ACLs, describing the cluster).
    #[arg(long)]
    pub cluster: bool,
}

impl ResourceArgs {
    /// (resource type, name), or None when no resource flag was given.
    fn resource(&self) -> Option<(&'static str, String)> {
        if let Some(name) = &self.topic {
            Some(("TOPIC", name.clone()))
        } else if let Some(name) = &self.group {
            Some(("GROUP", name.clone()))
        } else if let Some(name) = &self.transactional_id {
            Some(("TRANSACTIONAL_ID", name.clone()))
        } else if self.cluster {
            Some(("CLUSTER", CLUSTER_RESOURCE_NAME.to_string()))
        } else {
            None
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum AclsCommand {
    /// Allow (or with --deny, deny) a principal operations on a resource; one ACL per
    /// --operation.
    Add {
        #[command(flatten)]
        resource: ResourceArgs,
        /// `User:alice` (or just `alice`); `User:*` for everyone.
        #[arg(long)]
        principal: String,
        /// READ, WRITE, CREATE, DELETE, ALTER, DESCRIBE, CLUSTER_ACTION, DESCRIBE_CONFIGS,
        /// ALTER_CONFIGS, IDEMPOTENT_WRITE or ALL; repeatable.
        #[arg(long = "operation", required = true, value_name = "OPERATION")]
        operations: Vec<String>,
        /// LITERAL (the name itself) or PREFIXED (every name that starts with it).
        #[arg(long, default_value = "LITERAL")]
        resource_pattern_type: String,
        /// Only from this IP address; every host when absent.
        #[arg(long, default_value = "*")]
        host: String,
        /// A DENY ACL: it wins over every ALLOW.
        #[arg(long)]
        deny: bool,
    },
    /// The ACLs that match the filter flags (every ACL without any).
    List(FilterArgs),
    /// Delete the ACLs that match the filter flags (at least one is required).
    Delete(FilterArgs),
}

#[derive(Debug, Args)]
pub struct FilterArgs {
    #[command(flatten)]
    pub resource: ResourceArgs,
    #[arg(long)]
    pub principal: Option<String>,
    #[arg(long)]
    pub operation: Option<String>,
    /// LITERAL, PREFIXED, ANY, or MATCH (every ACL that applies to the named resource).
    #[arg(long)]
    pub resource_pattern_type: Option<String>,
    #[arg(long)]
    pub host: Option<String>,
    /// ALLOW or DENY.
    #[arg(long)]
    pub permission: Option<String>,
}

/// `alice` means `User:alice`; anything else must parse as a principal.
fn principal(text: &str) -> anyhow::Result<String> {
    let text = if text.contains(':') {
        text.to_string()
    } else {
        format!("User:{text}")
    };
    Principal::parse(&text).with_context(|| format!("invalid principal {text:?}"))?;
    Ok(text)
}

fn operation(text: &str) -> anyhow::Result<String> {
    Operation::parse(text)
        .map(|op| op.to_string())
        .with_context(|| format!("unknown operation {text:?}"))
}

fn pattern_type(text: &str) -> anyhow::Result<String> {
    PatternType::parse(text)
        .map(|p| p.to_string())
        .with_context(|| format!("unknown resource pattern type {text:?} (LITERAL or PREFIXED)"))
}

/// Filters also take ANY and MATCH (every ACL that applies to the named resource).
fn pattern_filter(text: &str) -> anyhow::Result<String> {
    PatternFilter::parse(text)
        .map(|p| p.to_string())
        .with_context(|| {
            format!("unknown resource pattern type {text:?} (LITERAL, PREFIXED, ANY or MATCH)")
        })
}

fn permission(text: &str) -> anyhow::Result<String> {
    Permission::parse(text)
        .map(|p| p.to_string())
        .with_context(|| format!("unknown permission {text:?} (ALLOW or DENY)"))
}

impl FilterArgs {
    fn filter(&self) -> anyhow::Result<AclFilter> {
        let resource = self.resource.resource();
        Ok(AclFilter {
            resource_type: resource.as_ref().map(|(kind, _)| kind.to_string()),
            resource_name: resource.map(|(_, name)| name),
            pattern_type: self
                .resource_pattern_type
                .as_deref()
                .map(pattern_filter)
                .transpose()?,
            principal: self.principal.as_deref().map(principal).transpose()?,
            host: self.host.clone(),
            operation: self.operation.as_deref().map(operation).transpose()?,
            permission: self.permission.as_deref().map(permission).transpose()?,
        })
    }
}

fn print_acls(list: &AclList, json: bool) -> anyhow::Result<()> {
    if json {
        return print(list);
    }
    let mut rows = vec![[
        "RESOURCE-TYPE",
        "RESOURCE-NAME",
        "PATTERN-TYPE",
        "PRINCIPAL",
        "HOST",
        "OPERATION",
        "PERMISSION",
    ]
    .map(str::to_string)
    .to_vec()];
    for acl in &list.acls {
        rows.push(vec![
            acl.resource_type.clone(),
            acl.resource_name.clone(),
            acl.pattern_type.clone(),
            acl.principal.clone(),
            acl.host.clone(),
            acl.operation.clone(),
            acl.permission.clone(),
        ]);
    }
    print!("{}", columns(&rows));
    Ok(())
}

pub async fn run(args: AclsArgs) -> anyhow::Result<()> {
    let client = args.target.client()?;
    match args.command {
        AclsCommand::Add {
            resource,
            principal: who,
            operations,
            resource_pattern_type,
            host,
            deny,
        } => {
            let Some((resource_type, resource_name)) = resource.resource() else {
                bail!("name a resource: --topic, --group, --transactional-id or --cluster");
            };
            let entries = operations
                .iter()
                .map(|op| {
                    Ok(AclEntry {
                        resource_type: resource_type.to_string(),
                        resource_name: resource_name.clone(),
                        pattern_type: pattern_type(&resource_pattern_type)?,
                        principal: principal(&who)?,
                        host: host.clone(),
                        operation: operation(op)?,
                        permission: if deny { "DENY" } else { "ALLOW" }.to_string(),
                    })
                })
                .collect::<anyhow::Result<Vec<_>>>()?;
            let mut added = Vec::new();
            for entry in entries {
                let created = client.create_acl(&entry).await?;
                if !args.json {
                    println!(
                        "{} {} {} on {} {} ({}){}",
                        entry.permission,
                        entry.principal,
                        entry.operation,
                        entry.resource_type,
                        entry.resource_name,
                        entry.pattern_type,
                        if created.created {
                            ""
                        } else {
                            ": existed already"
                        }
                    );
                }
                added.push(serde_json::json!({ "acl": entry, "created": created.created }));
            }
            if args.json {
                print(&serde_json::json!({ "acls": added }))?;
            }
            Ok(())
        }
        AclsCommand::List(filter) => print_acls(&client.acls(&filter.filter()?).await?, args.json),
        AclsCommand::Delete(filter) => {
            let filter = filter.filter()?;
            if filter == AclFilter::default() {
                bail!("refusing to delete every ACL: give at least one filter flag");
            }
            print_acls(&client.delete_acls(&filter).await?, args.json)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A bare name is a user; operation and pattern names are normalised to Kafka's spelling.
    #[test]
    fn names_are_normalised() {
        assert_eq!(principal("alice").expect("user"), "User:alice");
        assert_eq!(principal("User:*").expect("everyone"), "User:*");
        assert_eq!(operation("read").expect("read"), "READ");
        assert_eq!(pattern_type("prefixed").expect("prefixed"), "PREFIXED");
        assert_eq!(
            operation("describe_configs").expect("op"),
            "DESCRIBE_CONFIGS"
        );
        assert_eq!(pattern_filter("match").expect("match"), "MATCH");
        assert!(operation("reed").is_err());
        assert!(pattern_type("any").is_err());
    }
}
