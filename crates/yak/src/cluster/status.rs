//! `yak cluster status`: the first node that answers `GET /cluster` (then the leader it names,
//! which alone knows its followers' lag), printed as tables or as the raw JSON.

use std::fmt::Write as _;
use std::time::Duration;

use anyhow::{bail, Context};
use yak_api::{ClusterState, PartitionState};

use super::StatusArgs;

/// How long `status` waits for one node before asking the next.
pub const STATUS_REQUEST_TIMEOUT_MS: u64 = 2000;

/// The broker URLs of a `--broker` list, with `http://` added where it is missing.
fn broker_urls(list: &str) -> Vec<String> {
    list.split(',')
        .map(|b| b.trim().trim_end_matches('/'))
        .filter(|b| !b.is_empty())
        .map(|b| {
            if b.contains("://") {
                b.to_string()
            } else {
                format!("http://{b}")
            }
        })
        .collect()
}

pub async fn run(args: StatusArgs) -> anyhow::Result<()> {
    let urls = broker_urls(&args.target.broker);
    if urls.is_empty() {
        bail!("--broker is empty: give at least one URL");
    }
    // Every node of the list is asked through one client, with the connection flags'
    // credentials and CA; `get_from` asks exactly the node named, without retries.
    let http = args.target.client()?;
    let mut failures = Vec::new();
    for url in &urls {
        match fetch_cluster(&http, url).await {
            Ok(answer) => {
                for failure in &failures {
                    eprintln!("no answer from {failure}");
                }
                // Only the leader knows its followers' lag: prefer its view when it answers.
                let (url, (raw, state)) = match leader_url(&answer.1, url) {
                    Some(leader) => match fetch_cluster(&http, &leader).await {
                        Ok(from_leader) => (leader, from_leader),
                        Err(_) => (url.clone(), answer),
                    },
                    None => (url.clone(), answer),
                };
                if args.json {
                    println!("{}", raw.trim_end());
                } else {
                    print!("{}", render_status(&url, &state));
                }
                return Ok(());
            }
            Err(error) => failures.push(format!("{url}: {error:#}")),
        }
    }
    bail!(
        "no node answered GET /cluster:\n  {}",
        failures.join("\n  ")
    )
}

/// The leader's HTTP address when the node that answered is another one of a cluster.
fn leader_url(state: &ClusterState, asked: &str) -> Option<String> {
    if state.lease.is_none() || state.leader_id < 0 || state.leader_id == state.node_id {
        return None;
    }
    let leader = state.nodes.iter().find(|n| n.node_id == state.leader_id)?;
    let http = leader.http.trim_end_matches('/');
    (!http.is_empty() && http != asked).then(|| http.to_string())
}

async fn fetch_cluster(
    http: &yak_client::Client,
    base: &str,
) -> anyhow::Result<(String, ClusterState)> {
    let answer = tokio::time::timeout(
        Duration::from_millis(STATUS_REQUEST_TIMEOUT_MS),
        http.get_from(base, "/cluster"),
    )
    .await
    .with_context(|| format!("no answer within {STATUS_REQUEST_TIMEOUT_MS} ms"))??;
    let body = String::from_utf8_lossy(&answer).into_owned();
    let state = serde_json::from_str(&body).context("the answer is not a cluster state")?;
    Ok((body, state))
}

/// Left-aligned columns, two spaces apart.
pub fn columns(rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = Vec::new();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if widths.len() <= i {
                widths.push(0);
            }
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in rows {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            if i + 1 == row.len() {
                line.push_str(cell);
            } else {
                let _ = write!(line, "{cell:<width$}  ", width = widths[i]);
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

fn ids(list: &[i32]) -> String {
    if list.is_empty() {
        return "-".into();
    }
    list.iter()
        .map(i32::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

fn partition_name(p: &PartitionState) -> String {
    format!("{}-{}", p.topic.as_deref().unwrap_or("?"), p.partition)
}

/// The human-readable status: one block per concern, tables where there are rows.
fn render_status(url: &str, state: &ClusterState) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "cluster {}  (asked node {} at {url})",
        state.cluster, state.node_id
    );
    let leader = if state.leader_id < 0 {
        "none (election pending)".to_string()
    } else {
        state.leader_id.to_string()
    };
    let _ = writeln!(out, "leader {leader}  epoch {}", state.epoch);
    match &state.lease {
        None => {
            let _ = writeln!(out, "lease: none (standalone node, no coordinator)");
        }
        Some(lease) if lease.holder < 0 => {
            let _ = writeln!(
                out,
                "lease: not held (epoch {}, lease {} ms)",
                lease.epoch, lease.lease_ms
            );
        }
        Some(lease) => {
            let _ = writeln!(
                out,
                "lease: held by node {}, epoch {}, expires in {} ms (lease {} ms)",
                lease.holder, lease.epoch, lease.expires_in_ms, lease.lease_ms
            );
        }
    }

    out.push('\n');
    let mut rows = vec![["NODE", "ROLE", "ALIVE", "HTTP", "KAFKA"]
        .map(String::from)
        .to_vec()];
    for node in &state.nodes {
        rows.push(vec![
            node.node_id.to_string(),
            node.role.clone(),
            if node.alive { "yes" } else { "no" }.to_string(),
            node.http.clone(),
            node.kafka.clone(),
        ]);
    }
    out.push_str(&columns(&rows));

    out.push('\n');
    if state.partitions.is_empty() {
        out.push_str("no partitions yet\n");
    } else {
        let mut rows = vec![[
            "PARTITION",
            "LEADER",
            "EPOCH",
            "REPLICAS",
            "ISR",
            "LOG_END_OFFSET",
            "HIGH_WATERMARK",
        ]
        .map(String::from)
        .to_vec()];
        for p in &state.partitions {
            rows.push(vec![
                partition_name(p),
                p.leader.to_string(),
                p.leader_epoch.to_string(),
                ids(&p.replicas),
                ids(&p.isr),
                p.log_end_offset.to_string(),
                p.high_watermark.to_string(),
            ]);
        }
        out.push_str(&columns(&rows));
    }

    let followers: Vec<_> = state
        .partitions
        .iter()
        .flat_map(|p| p.followers.iter().map(move |f| (p, f)))
        .collect();
    if !followers.is_empty() {
        out.push('\n');
        let mut rows = vec![[
            "PARTITION",
            "FOLLOWER",
            "IN_ISR",
            "LOG_END_OFFSET",
            "LAG_RECORDS",
            "CAUGHT_UP_MS_AGO",
        ]
        .map(String::from)
        .to_vec()];
        for (p, f) in followers {
            rows.push(vec![
                partition_name(p),
                f.node_id.to_string(),
                if f.in_isr { "yes" } else { "no" }.to_string(),
                f.log_end_offset.to_string(),
                f.lag_records.to_string(),
                if f.caught_up_ms_ago < 0 {
                    "never".to_string()
                } else {
                    f.caught_up_ms_ago.to_string()
                },
            ]);
        }
        out.push_str(&columns(&rows));
    } else if state.lease.is_some() && state.node_id != state.leader_id {
        let _ = writeln!(
            out,
            "\nfollower lag is reported by the leader: ask node {} for it",
            state.leader_id
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(node_id: i32, leader_id: i32) -> ClusterState {
        let node = |id: i32| yak_api::NodeState {
            node_id: id,
            http: format!("http://h{id}:5001"),
            kafka: format!("h{id}:9092"),
            role: if id == leader_id {
                "leader"
            } else {
                "follower"
            }
            .into(),
            alive: true,
        };
        ClusterState {
            cluster: "c".into(),
            node_id,
            leader_id,
            epoch: 4,
            lease: Some(yak_api::LeaseState {
                holder: leader_id,
                epoch: 4,
                expires_in_ms: 2500,
                lease_ms: 3000,
            }),
            nodes: vec![node(1), node(2), node(3)],
            partitions: vec![PartitionState {
                topic: Some("t".into()),
                partition: 0,
                leader: leader_id,
                leader_epoch: 4,
                replicas: vec![1, 2, 3],
                isr: vec![1, 2],
                log_start_offset: 0,
                log_end_offset: 10,
                high_watermark: 8,
                size_bytes: 0,
                followers: vec![yak_api::FollowerState {
                    node_id: 3,
                    log_end_offset: 4,
                    lag_records: 6,
                    caught_up_ms_ago: -1,
                    in_isr: false,
                }],
            }],
            elections: vec![],
            history: vec![],
        }
    }

    /// A follower's answer sends `status` on to the leader, whose view holds the lag.
    #[test]
    fn status_asks_the_leader_after_a_follower_answered() {
        assert_eq!(
            leader_url(&state(1, 2), "http://h1:5001").as_deref(),
            Some("http://h2:5001")
        );
        assert_eq!(leader_url(&state(2, 2), "http://h2:5001"), None);
        assert_eq!(leader_url(&state(1, -1), "http://h1:5001"), None);
        let mut standalone = state(0, 0);
        standalone.lease = None;
        assert_eq!(leader_url(&standalone, "http://h0:5001"), None);
    }

    /// The status shows the lease, the ISR and each follower's lag in its own row.
    #[test]
    fn status_shows_lease_isr_and_follower_lag() {
        let text = render_status("http://h2:5001", &state(2, 2));
        assert!(
            text.contains("lease: held by node 2, epoch 4, expires in 2500 ms"),
            "{text}"
        );
        let partition = text
            .lines()
            .find(|l| l.starts_with("t-0 "))
            .expect("partition row");
        assert_eq!(
            partition.split_whitespace().collect::<Vec<_>>(),
            ["t-0", "2", "4", "1,2,3", "1,2", "10", "8"]
        );
        let follower = text
            .lines()
            .filter(|l| l.starts_with("t-0 "))
            .nth(1)
            .expect("follower row");
        assert_eq!(
            follower.split_whitespace().collect::<Vec<_>>(),
            ["t-0", "3", "no", "4", "6", "never"]
        );
    }
}
