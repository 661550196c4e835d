//! `yak cluster up`: Redis and N brokers of this executable on one machine, to try a failover;
//! every child is stopped on Ctrl-C or SIGTERM, the brokers before Redis.

use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::{mpsc, watch};

use super::status::STATUS_REQUEST_TIMEOUT_MS;
use super::UpArgs;

/// Nodes `up` starts at most: a demo on one machine, not a deployment.
pub const UP_NODES_MAX: u32 = 9;
/// How long `up` waits for Redis to accept connections.
pub const REDIS_START_TIMEOUT_MS: u64 = 10_000;
/// How long `up` waits for a broker to print its `listening` line.
pub const BROKER_START_TIMEOUT_MS: u64 = 60_000;
/// How long a child may take to exit after SIGTERM before it is killed.
pub const CHILD_STOP_TIMEOUT_MS: u64 = 15_000;
/// How long `up` waits for the first election before printing the commands without the
/// leader's pid.
pub const FIRST_LEADER_TIMEOUT_MS: u64 = 15_000;

/// The addresses of one node `up` starts.
#[derive(Debug, Clone, PartialEq, Eq)]
struct NodePlan {
    node_id: u32,
    http_port: u16,
    kafka_port: u16,
    data_dir: PathBuf,
}

/// Checks the flags and works out every node's ports and directory; no side effects.
fn plan(args: &UpArgs) -> anyhow::Result<Vec<NodePlan>> {
    if args.nodes == 0 || args.nodes > UP_NODES_MAX {
        bail!(
            "--nodes must be between 1 and {UP_NODES_MAX}, got {}",
            args.nodes
        );
    }
    if args.lease_ms == Some(0) {
        bail!("--lease-ms must be above 0");
    }
    let last = |base: u16, flag: &str| -> anyhow::Result<u16> {
        if base == 0 {
            bail!("{flag} must be a fixed port, not 0: the nodes must find each other");
        }
        base.checked_add((args.nodes - 1) as u16)
            .with_context(|| format!("{flag} {base} + {} nodes runs past port 65535", args.nodes))
    };
    let http_last = last(args.base_http_port, "--base-http-port")?;
    let kafka_last = last(args.base_kafka_port, "--base-kafka-port")?;
    if args.redis_port == 0 {
        bail!("--redis-port must be a fixed port, not 0");
    }
    let http = args.base_http_port..=http_last;
    let kafka = args.base_kafka_port..=kafka_last;
    if http.contains(&args.base_kafka_port) || kafka.contains(&args.base_http_port) {
        bail!(
            "the HTTP ports {}-{} and the Kafka ports {}-{} overlap: move --base-http-port or --base-kafka-port",
            http.start(), http.end(), kafka.start(), kafka.end()
        );
    }
    if http.contains(&args.redis_port) || kafka.contains(&args.redis_port) {
        bail!(
            "--redis-port {} is one of the brokers' ports (HTTP {}-{}, Kafka {}-{})",
            args.redis_port,
            http.start(),
            http.end(),
            kafka.start(),
            kafka.end()
        );
    }
    Ok((1..=args.nodes)
        .map(|node_id| NodePlan {
            node_id,
            http_port: args.base_http_port + (node_id - 1) as u16,
            kafka_port: args.base_kafka_port + (node_id - 1) as u16,
            data_dir: args.dir.join(format!("node-{node_id}")),
        })
        .collect())
}

/// `redis-server` on PATH, or an error saying how to install it.
fn find_redis_server() -> anyhow::Result<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path) {
        let candidate = dir.join("redis-server");
        if candidate.is_file() {
            return Ok(candidate);
        }
    }
    bail!(
        "redis-server is not on PATH; `yak cluster up` needs it for the leader lease. Install it \
         (Debian/Ubuntu: `sudo apt-get install redis-server`, Fedora: `sudo dnf install redis`, \
         macOS: `brew install redis`) or start your own Redis and run `yak broker --coordinator \
         redis://HOST:PORT/0` per node (docs/DEPLOYMENT.md)"
    )
}

/// Fails with a clear message when something already listens on the port.
fn check_port_free(port: u16, what: &str) -> anyhow::Result<()> {
    TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, port)))
        .map(drop)
        .with_context(|| {
            format!("port {port} ({what}) is in use: stop what listens there or pick other ports")
        })
}

/// A child `up` started: stopped with SIGTERM when `up` ends, killed if dropped early.
struct Managed {
    name: String,
    pid: u32,
    child: Child,
}

/// Sends SIGTERM through kill(1): one signal does not justify an unsafe libc call.
async fn sigterm(pid: u32) {
    let _ = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .await;
}

impl Managed {
    /// SIGTERM, then SIGKILL after [`CHILD_STOP_TIMEOUT_MS`]; says how it ended.
    async fn stop(mut self) {
        if let Ok(Some(status)) = self.child.try_wait() {
            println!("{} had already exited ({status})", self.name);
            return;
        }
        sigterm(self.pid).await;
        let timeout = Duration::from_millis(CHILD_STOP_TIMEOUT_MS);
        match tokio::time::timeout(timeout, self.child.wait()).await {
            Ok(Ok(status)) => println!("{} stopped ({status})", self.name),
            _ => {
                let _ = self.child.kill().await;
                println!(
                    "{} did not stop within {CHILD_STOP_TIMEOUT_MS} ms and was killed",
                    self.name
                );
            }
        }
    }
}

fn command(program: &Path) -> Command {
    let mut command = Command::new(program);
    // Own process group: Ctrl-C in the terminal reaches only `up`, which then stops the brokers
    // before Redis, so no broker loses its coordinator while it shuts down.
    command.process_group(0).kill_on_drop(true);
    command
}

async fn start_redis(server: &Path, args: &UpArgs) -> anyhow::Result<Managed> {
    let dir = args.dir.join("redis");
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let dir = dir
        .canonicalize()
        .with_context(|| format!("cannot resolve {}", dir.display()))?;
    let log_path = args.dir.join("redis.log");
    let log = std::fs::File::create(&log_path)
        .with_context(|| format!("cannot create {}", log_path.display()))?;
    // Every write fsynced before Redis answers: the lease and partition state must outlive a
    // crash of this machine as well as the epochs in the nodes' cluster.json do
    // (docs/DEPLOYMENT.md explains the trade-off).
    let child = command(server)
        .args(["--port", &args.redis_port.to_string()])
        .args(["--bind", "127.0.0.1"])
        .arg("--dir")
        .arg(&dir)
        .args(["--appendonly", "yes", "--appendfsync", "always"])
        .args(["--save", ""])
        .args(["--daemonize", "no"])
        .stdin(Stdio::null())
        .stdout(Stdio::from(log.try_clone()?))
        .stderr(Stdio::from(log))
        .spawn()
        .with_context(|| format!("cannot start {}", server.display()))?;
    let mut redis = Managed {
        name: format!("redis (port {})", args.redis_port),
        pid: child.id().unwrap_or_default(),
        child,
    };
    let deadline = Instant::now() + Duration::from_millis(REDIS_START_TIMEOUT_MS);
    loop {
        if let Ok(Some(status)) = redis.child.try_wait() {
            bail!(
                "redis-server exited at start-up ({status}); its log {}:\n{}",
                log_path.display(),
                tail(&log_path)
            );
        }
        if redis_ping(args.redis_port).await {
            return Ok(redis);
        }
        if Instant::now() >= deadline {
            bail!(
                "redis-server did not answer PING within {REDIS_START_TIMEOUT_MS} ms; its log {}:\n{}",
                log_path.display(),
                tail(&log_path)
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Whether a Redis answers PING on the port (the inline command form of RESP).
async fn redis_ping(port: u16) -> bool {
    let attempt = async {
        let mut stream = tokio::net::TcpStream::connect((Ipv4Addr::LOCALHOST, port)).await?;
        stream.write_all(b"PING\r\n").await?;
        let mut line = String::new();
        BufReader::new(stream).read_line(&mut line).await?;
        Ok::<bool, std::io::Error>(line.starts_with("+PONG"))
    };
    matches!(
        tokio::time::timeout(Duration::from_millis(500), attempt).await,
        Ok(Ok(true))
    )
}

/// The last lines of a log file, for start-up errors.
fn tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

/// The argument list of one broker, shown to the user too so a killed node can be restarted.
fn broker_args(node: &NodePlan, args: &UpArgs) -> Vec<String> {
    let mut list = vec![
        "broker".to_string(),
        "--node-id".into(),
        node.node_id.to_string(),
        "--data-dir".into(),
        node.data_dir.display().to_string(),
        "--http".into(),
        format!("127.0.0.1:{}", node.http_port),
        "--kafka".into(),
        format!("127.0.0.1:{}", node.kafka_port),
        "--coordinator".into(),
        format!("redis://127.0.0.1:{}/0", args.redis_port),
    ];
    if let Some(lease_ms) = args.lease_ms {
        list.push("--lease-ms".into());
        list.push(lease_ms.to_string());
    }
    list
}

async fn start_broker(exe: &Path, node: &NodePlan, args: &UpArgs) -> anyhow::Result<Managed> {
    std::fs::create_dir_all(&node.data_dir)
        .with_context(|| format!("cannot create {}", node.data_dir.display()))?;
    let log_path = args.dir.join(format!("node-{}.log", node.node_id));
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .with_context(|| format!("cannot open {}", log_path.display()))?;
    let mut child = command(exe)
        .args(broker_args(node, args))
        .env_remove("YAK_CONFIG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::from(log.try_clone()?))
        .spawn()
        .with_context(|| format!("cannot start node {}", node.node_id))?;
    let pid = child.id().unwrap_or_default();
    let stdout = child
        .stdout
        .take()
        .context("the broker's stdout is not piped")?;
    let mut lines = BufReader::new(stdout).lines();
    let mut managed = Managed {
        name: format!("node {} (pid {pid})", node.node_id),
        pid,
        child,
    };
    let deadline = Duration::from_millis(BROKER_START_TIMEOUT_MS);
    let listening = tokio::time::timeout(deadline, async {
        while let Some(line) = lines.next_line().await? {
            if line.starts_with("listening ") {
                return Ok::<bool, std::io::Error>(true);
            }
        }
        Ok(false)
    })
    .await;
    match listening {
        Ok(Ok(true)) => {}
        Ok(_) => {
            let status = managed
                .child
                .wait()
                .await
                .map_or_else(|e| e.to_string(), |s| s.to_string());
            bail!(
                "node {} exited at start-up ({status}); its log {}:\n{}",
                node.node_id,
                log_path.display(),
                tail(&log_path)
            );
        }
        Err(_) => bail!(
            "node {} printed no listening line within {BROKER_START_TIMEOUT_MS} ms; its log {}:\n{}",
            node.node_id,
            log_path.display(),
            tail(&log_path)
        ),
    }
    // Keep draining stdout into the log so the broker never blocks on a full pipe.
    let mut log = tokio::fs::File::from_std(log);
    tokio::spawn(async move {
        while let Ok(Some(line)) = lines.next_line().await {
            if log.write_all(format!("{line}\n").as_bytes()).await.is_err() {
                break;
            }
        }
    });
    Ok(managed)
}

/// The first leader's node id, asked of every node until one knows.
async fn first_leader(plans: &[NodePlan]) -> Option<i32> {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_millis(STATUS_REQUEST_TIMEOUT_MS))
        .build()
        .ok()?;
    let deadline = Instant::now() + Duration::from_millis(FIRST_LEADER_TIMEOUT_MS);
    while Instant::now() < deadline {
        for node in plans {
            let url = format!("http://127.0.0.1:{}/metadata/leader", node.http_port);
            if let Ok(response) = http.get(&url).send().await {
                if response.status().is_success() {
                    if let Ok(leader) = response.json::<yak_api::LeaderInfo>().await {
                        if leader.leader_id >= 0 {
                            return Some(leader.leader_id);
                        }
                    }
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    None
}

/// A shell word: quoted only when it needs to be.
fn shell_word(word: &str) -> String {
    if !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=,@".contains(c))
    {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

pub async fn run(args: UpArgs) -> anyhow::Result<()> {
    let plans = plan(&args)?;
    let redis_server = find_redis_server()?;
    check_port_free(args.redis_port, "--redis-port")?;
    for node in &plans {
        check_port_free(node.http_port, &format!("HTTP of node {}", node.node_id))?;
        check_port_free(node.kafka_port, &format!("Kafka of node {}", node.node_id))?;
    }
    let exe = match &args.broker_bin {
        Some(path) => path.clone(),
        None => std::env::current_exe().context("cannot find this executable")?,
    };
    std::fs::create_dir_all(&args.dir)
        .with_context(|| format!("cannot create {}", args.dir.display()))?;

    // The signal handlers are installed before the first child starts: a Ctrl-C during
    // start-up drops what has started (kill_on_drop) instead of leaving orphans behind.
    let signal = crate::shutdown_signal();
    tokio::pin!(signal);
    let (redis, brokers) = tokio::select! {
        started = start_all(&redis_server, &exe, &plans, &args) => started?,
        _ = &mut signal => bail!("interrupted during start-up; every child was killed"),
    };
    let pids: Vec<(u32, u32)> = plans
        .iter()
        .zip(&brokers)
        .map(|(n, b)| (n.node_id, b.pid))
        .collect();
    let cli = std::env::current_exe().unwrap_or_else(|_| PathBuf::from("yak"));
    print_hints(&cli, &plans, &pids, first_leader(&plans).await);

    // Each broker is watched by a task, so an exit (the user killed the leader, as suggested)
    // is reported at once, with the command that starts the node again.
    let (stop_tx, stop_rx) = watch::channel(false);
    let (exited_tx, mut exited_rx) = mpsc::channel::<String>(plans.len());
    let mut watchers = Vec::new();
    for (node, broker) in plans.iter().zip(brokers) {
        let restart = std::iter::once(exe.display().to_string())
            .chain(broker_args(node, &args))
            .map(|w| shell_word(&w))
            .collect::<Vec<_>>()
            .join(" ");
        watchers.push(tokio::spawn(watch_broker(
            broker,
            restart,
            stop_rx.clone(),
            exited_tx.clone(),
        )));
    }
    drop(exited_tx);
    loop {
        tokio::select! {
            _ = &mut signal => break,
            Some(message) = exited_rx.recv() => println!("{message}"),
        }
    }
    println!("stopping every node, then redis");
    let _ = stop_tx.send(true);
    for watcher in watchers {
        let _ = watcher.await;
    }
    redis.stop().await;
    Ok(())
}

/// Redis, then every broker in node order; stops what started when one fails.
async fn start_all(
    redis_server: &Path,
    exe: &Path,
    plans: &[NodePlan],
    args: &UpArgs,
) -> anyhow::Result<(Managed, Vec<Managed>)> {
    let redis = start_redis(redis_server, args).await?;
    println!(
        "redis-server pid {} on 127.0.0.1:{} (appendonly, fsync always; log {})",
        redis.pid,
        args.redis_port,
        args.dir.join("redis.log").display()
    );
    let mut brokers = Vec::new();
    for node in plans {
        match start_broker(exe, node, args).await {
            Ok(broker) => {
                println!(
                    "node {}  pid {}  console http://127.0.0.1:{}/  kafka 127.0.0.1:{}  data {}  log {}",
                    node.node_id,
                    broker.pid,
                    node.http_port,
                    node.kafka_port,
                    node.data_dir.display(),
                    args.dir.join(format!("node-{}.log", node.node_id)).display()
                );
                brokers.push(broker);
            }
            Err(error) => {
                stop_all(brokers, redis).await;
                return Err(error);
            }
        }
    }
    Ok((redis, brokers))
}

async fn watch_broker(
    mut broker: Managed,
    restart: String,
    mut stop: watch::Receiver<bool>,
    exited: mpsc::Sender<String>,
) {
    let exit = tokio::select! {
        status = broker.child.wait() => Some(status),
        // The guard `wait_for` returns is dropped at once: it must not live across an await.
        _ = async { drop(stop.wait_for(|stop| *stop).await) } => None,
    };
    match exit {
        Some(status) => {
            let status = status.map_or_else(|e| e.to_string(), |s| s.to_string());
            let _ = exited
                .send(format!(
                    "{} exited ({status}); start it again with:\n  {restart}",
                    broker.name
                ))
                .await;
        }
        None => broker.stop().await,
    }
}

async fn stop_all(brokers: Vec<Managed>, redis: Managed) {
    for broker in brokers {
        broker.stop().await;
    }
    redis.stop().await;
}

fn print_hints(exe: &Path, plans: &[NodePlan], pids: &[(u32, u32)], leader: Option<i32>) {
    let yak = shell_word(&exe.display().to_string());
    let brokers = plans
        .iter()
        .map(|n| format!("http://127.0.0.1:{}", n.http_port))
        .collect::<Vec<_>>()
        .join(",");
    println!();
    let leader = leader.and_then(|id| {
        pids.iter()
            .find(|(node, _)| i64::from(*node) == i64::from(id))
    });
    let kill = match leader {
        Some((node, pid)) => {
            println!("node {node} leads (pid {pid}).");
            format!("kill -9 {pid}        # node {node}, the leader")
        }
        None => {
            println!("no leader elected yet; `cluster status` shows when one is.");
            "kill -9 <pid of the leader>".to_string()
        }
    };
    println!("Try a failover:");
    println!("  {yak} cluster status --broker {brokers}");
    println!("  seq 1 100000 | {yak} produce --broker {brokers} --topic demo &");
    println!("  {kill}");
    println!("  watch -n 1 {yak} cluster status --broker {brokers}");
    println!("  {yak} consume --broker {brokers} --topic demo --max 5");
    println!(
        "The console of any node shows the failover live: http://127.0.0.1:{}/#/cluster",
        plans[0].http_port
    );
    println!("Ctrl-C stops every node, then redis.");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn up(nodes: u32) -> UpArgs {
        UpArgs {
            nodes,
            dir: PathBuf::from("d"),
            redis_port: 6390,
            base_http_port: 5001,
            base_kafka_port: 9092,
            lease_ms: None,
            broker_bin: None,
        }
    }

    /// Node N gets the Nth port of each range and its own data directory.
    #[test]
    fn plan_gives_each_node_its_ports_and_directory() {
        let plans = plan(&up(3)).expect("valid");
        assert_eq!(
            plans
                .iter()
                .map(|n| (n.node_id, n.http_port, n.kafka_port))
                .collect::<Vec<_>>(),
            vec![(1, 5001, 9092), (2, 5002, 9093), (3, 5003, 9094)]
        );
        assert_eq!(plans[2].data_dir, PathBuf::from("d/node-3"));
    }

    /// Overlapping ranges, a Redis port among them, and counts out of range are refused.
    #[test]
    fn plan_refuses_clashing_ports_and_bad_counts() {
        let mut args = up(3);
        args.base_kafka_port = 5002;
        assert!(plan(&args).unwrap_err().to_string().contains("overlap"));
        let mut args = up(3);
        args.redis_port = 9094;
        assert!(plan(&args)
            .unwrap_err()
            .to_string()
            .contains("--redis-port"));
        assert!(plan(&up(0)).unwrap_err().to_string().contains("--nodes"));
        assert!(plan(&up(UP_NODES_MAX + 1)).is_err());
        let mut args = up(3);
        args.base_http_port = 65534;
        assert!(plan(&args).unwrap_err().to_string().contains("65535"));
    }

    /// Shell words that need quoting are quoted so the printed restart command can be pasted.
    #[test]
    fn shell_word_quotes_only_when_needed() {
        assert_eq!(shell_word("--node-id"), "--node-id");
        assert_eq!(shell_word("/tmp/a b"), "'/tmp/a b'");
        assert_eq!(shell_word("it's"), r"'it'\''s'");
    }
}
