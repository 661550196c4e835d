//! `yak bench --protocol kafka` against a real broker process.

mod common;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use common::Broker;
use serde_json::Value;

/// How long one bench run may take in a debug build.
const BENCH_TIMEOUT: Duration = Duration::from_secs(120);

/// Runs `yak bench ARGS --quiet` and returns its exit status, stdout and stderr; kills it past
/// the deadline.
fn run_bench(args: &[&str]) -> (ExitStatus, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_yak"))
        .arg("bench")
        .args(args)
        .arg("--quiet")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start yak bench");
    let deadline = Instant::now() + BENCH_TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait().expect("poll yak bench") {
            break status;
        }
        if Instant::now() >= deadline {
            child.kill().ok();
            child.wait().ok();
            panic!("yak bench {args:?} ran past {BENCH_TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let (mut stdout, mut stderr) = (String::new(), String::new());
    if let Some(mut out) = child.stdout.take() {
        out.read_to_string(&mut stdout).expect("read stdout");
    }
    if let Some(mut err) = child.stderr.take() {
        err.read_to_string(&mut stderr).expect("read stderr");
    }
    (status, stdout, stderr)
}

/// Runs `yak bench ARGS --quiet`, which must succeed, and returns its JSON summary.
fn bench(args: &[&str]) -> Value {
    let (status, stdout, stderr) = run_bench(args);
    assert!(status.success(), "yak bench {args:?} failed: {stderr}");
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("summary is not JSON ({e}): {stdout}"))
}

/// Runs openssl(1) with `args` in `dir`; it must succeed.
fn openssl(dir: &Path, args: &[&str]) {
    let output = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run openssl(1)");
    assert!(
        output.status.success(),
        "openssl {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A test CA and a node certificate for 127.0.0.1 signed by it, made with openssl(1) in `dir`:
/// the CA's PEM file, then the node's certificate and key.
fn make_certificates(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    let mut ca = vec!["req", "-x509", "-days", "2", "-subj", "/CN=yak-test-ca"];
    ca.extend(ec);
    ca.extend(["-keyout", "ca.key", "-out", "ca.pem"]);
    openssl(dir, &ca);
    let mut request = vec!["req", "-subj", "/CN=localhost"];
    request.extend(ec);
    request.extend(["-keyout", "node.key", "-out", "node.csr"]);
    openssl(dir, &request);
    std::fs::write(
        dir.join("node.ext"),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\n",
    )
    .expect("write the extension file");
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-days",
            "2",
            "-in",
            "node.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-extfile",
            "node.ext",
            "-out",
            "node.pem",
        ],
    );
    (
        dir.join("ca.pem"),
        dir.join("node.pem"),
        dir.join("node.key"),
    )
}

/// Proves the Kafka producer writes exactly --count records (a short last batch included) and
/// the Kafka consumer reads every one of them back.
#[test]
fn kafka_bench_produces_count_and_consumes_them_all() {
    let broker = Broker::start();
    let count = 123_457;
    let produced = bench(&[
        "produce",
        "--protocol",
        "kafka",
        "--kafka",
        &broker.kafka,
        "--topic",
        "kafka-bench",
        "--count",
        &count.to_string(),
        "--concurrency",
        "4",
        "--batch-records",
        "1000",
    ]);
    assert_eq!(produced["bench"], "kafka-produce");
    assert_eq!(produced["records"], count, "{produced}");
    assert_eq!(produced["errors"], 0, "{produced}");

    let consumed = bench(&[
        "consume",
        "--protocol",
        "kafka",
        "--kafka",
        &broker.kafka,
        "--topic",
        "kafka-bench",
        "--concurrency",
        "2",
    ]);
    assert_eq!(consumed["bench"], "kafka-consume");
    assert_eq!(consumed["records"], count, "{consumed}");
    assert_eq!(consumed["errors"], 0, "{consumed}");
}

/// Proves the Kafka bench logs in over SASL_SSL with SCRAM-SHA-512, writes and reads back every
/// record through TLS, and that a wrong password ends the run with the SASL error.
#[test]
fn kafka_bench_over_sasl_ssl_with_scram() {
    let files = tempfile::tempdir().expect("create a temporary directory");
    let (ca, cert, key) = make_certificates(files.path());
    let password = files.path().join("password");
    std::fs::write(&password, "bench-secret\n").expect("write the password file");
    let wrong_password = files.path().join("wrong-password");
    std::fs::write(&wrong_password, "not-the-secret\n").expect("write the password file");
    let broker = Broker::start_with(&[
        "--listeners",
        "PLAINTEXT://127.0.0.1:0,SASL_SSL://127.0.0.1:0",
        "--tls-cert-file",
        cert.to_str().expect("UTF-8 path"),
        "--tls-key-file",
        key.to_str().expect("UTF-8 path"),
        "--sasl-mechanisms",
        "SCRAM-SHA-512",
        "--bootstrap-user",
        "bench",
        "--bootstrap-password-file",
        password.to_str().expect("UTF-8 path"),
    ]);
    let sasl_ssl = broker.listener("SASL_SSL");
    let login = |password: &Path| -> Vec<String> {
        [
            "--kafka",
            &sasl_ssl,
            "--security-protocol",
            "SASL_SSL",
            "--sasl-mechanism",
            "SCRAM-SHA-512",
            "--user",
            "bench",
            "--password-file",
            password.to_str().expect("UTF-8 path"),
            "--ca-file",
            ca.to_str().expect("UTF-8 path"),
        ]
        .iter()
        .map(|a| a.to_string())
        .collect()
    };
    let args = |command: &str, password: &Path, extra: &[&str]| -> Vec<String> {
        let mut args = vec![command.to_string(), "--protocol".into(), "kafka".into()];
        args.extend(login(password));
        args.extend(["--topic".to_string(), "tls-bench".to_string()]);
        args.extend(extra.iter().map(|a| a.to_string()));
        args
    };

    let count = 20_001;
    let produce = args(
        "produce",
        &password,
        &["--count", &count.to_string(), "--concurrency", "2"],
    );
    let produced = bench(&produce.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(produced["records"], count, "{produced}");
    assert_eq!(produced["errors"], 0, "{produced}");

    let consume = args("consume", &password, &["--concurrency", "2"]);
    let consumed = bench(&consume.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(consumed["records"], count, "{consumed}");
    assert_eq!(consumed["errors"], 0, "{consumed}");

    let refused = args("consume", &wrong_password, &[]);
    let (status, _, stderr) = run_bench(&refused.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(!status.success(), "a wrong password must fail the run");
    assert!(
        stderr.contains("SASL authentication failed"),
        "the run must say the login failed: {stderr}"
    );
}
