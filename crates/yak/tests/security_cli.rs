//! The `yak` command-line client against a node with security on: HTTPS trusting `--ca-file`,
//! credentials from `--user` with `--password-file`/`YAK_PASSWORD` or `--token`, and the
//! `users`, `acls` and `tokens` commands over the HTTP admin API.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::Duration;

use common::Broker;
use serde_json::Value;

/// How long one CLI command may run.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);
const ADMIN_PASSWORD: &str = "admin-secret";

/// Variables that would change who the CLI says it is; every run starts without them.
const CREDENTIAL_VARIABLES: &[&str] = &[
    "YAK_BROKER",
    "YAK_USER",
    "YAK_PASSWORD",
    "YAK_PASSWORD_FILE",
    "YAK_TOKEN",
    "YAK_CA_FILE",
    "YAK_NEW_PASSWORD",
];

/// Runs `yak ARGS` with `env` added and `stdin` as input; its output, whatever the status.
async fn yak_output(args: &[&str], env: &[(&str, &str)], stdin: &str) -> Output {
    use tokio::io::AsyncWriteExt;
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_yak"));
    command.args(args);
    for variable in CREDENTIAL_VARIABLES {
        command.env_remove(variable);
    }
    let mut child = command
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn yak");
    let mut input = child.stdin.take().expect("stdin");
    input
        .write_all(stdin.as_bytes())
        .await
        .expect("write stdin");
    drop(input);
    tokio::time::timeout(COMMAND_TIMEOUT, child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("yak {args:?} did not finish within {COMMAND_TIMEOUT:?}"))
        .expect("wait for yak")
}

fn describe(args: &[&str], output: &Output) -> String {
    format!(
        "yak {args:?} exited {}:\nstdout: {}\nstderr: {}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// Runs `yak ARGS`, asserts it succeeded, and returns its stdout.
async fn yak(args: &[&str], env: &[(&str, &str)], stdin: &str) -> String {
    let output = yak_output(args, env, stdin).await;
    assert!(output.status.success(), "{}", describe(args, &output));
    String::from_utf8(output.stdout).expect("UTF-8 stdout")
}

/// Runs `yak ARGS`, asserts it failed, and returns its stderr.
async fn yak_fails(args: &[&str], env: &[(&str, &str)]) -> String {
    let output = yak_output(args, env, "").await;
    assert!(!output.status.success(), "{}", describe(args, &output));
    String::from_utf8(output.stderr).expect("UTF-8 stderr")
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write a test file");
    path
}

/// A CA and a node certificate for `localhost`/127.0.0.1 signed by it, made with `openssl`.
struct Certificates {
    ca: PathBuf,
    node_cert: PathBuf,
    node_key: PathBuf,
}

fn openssl(dir: &Path, args: &[&str]) {
    let output = std::process::Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run openssl (the security tests need it on the PATH)");
    assert!(
        output.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

fn certificates(dir: &Path) -> Certificates {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "2",
            "-subj",
            "/CN=yak-test-ca",
        ],
    );
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "node.key",
            "-out",
            "node.csr",
            "-subj",
            "/CN=localhost",
        ],
    );
    write(
        dir,
        "node.ext",
        "subjectAltName=DNS:localhost,IP:127.0.0.1\n",
    );
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "node.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "node.pem",
            "-days",
            "2",
            "-extfile",
            "node.ext",
        ],
    );
    Certificates {
        ca: dir.join("ca.pem"),
        node_cert: dir.join("node.pem"),
        node_key: dir.join("node.key"),
    }
}

/// A node that requires credentials, with the user `admin` created at start-up; `extra` adds
/// flags (`--authorization true`, …).
fn secured_broker(dir: &Path, extra: &[&str]) -> Broker {
    let password_file = write(dir, "bootstrap-password", &format!("{ADMIN_PASSWORD}\n"));
    let password_file = password_file.to_str().expect("UTF-8 path");
    let mut args = vec![
        "--authentication",
        "true",
        "--bootstrap-user",
        "admin",
        "--bootstrap-password-file",
        password_file,
    ];
    args.extend_from_slice(extra);
    Broker::start_with(&args)
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{text:?} is not JSON: {e}"))
}

/// An HTTPS node is reached with `--ca-file` (or YAK_CA_FILE); without it the CLI fails at once
/// with a TLS error instead of retrying for seconds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_node_is_trusted_through_the_ca_file() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let certs = certificates(dir.path());
    let broker = Broker::start_with(&[
        "--http-tls",
        "true",
        "--tls-cert-file",
        certs.node_cert.to_str().expect("path"),
        "--tls-key-file",
        certs.node_key.to_str().expect("path"),
    ]);
    assert!(broker.http.starts_with("https://"), "{}", broker.http);
    let ca = certs.ca.to_str().expect("path");
    let listed = yak(
        &["topics", "list", "--broker", &broker.http, "--ca-file", ca],
        &[],
        "",
    )
    .await;
    assert!(json(&listed)["topics"].is_array(), "{listed}");
    let listed = yak(
        &["topics", "list", "--broker", &broker.http],
        &[("YAK_CA_FILE", ca)],
        "",
    )
    .await;
    assert!(json(&listed)["topics"].is_array(), "{listed}");

    let started = std::time::Instant::now();
    let error = yak_fails(&["topics", "list", "--broker", &broker.http], &[]).await;
    assert!(error.contains("TLS handshake"), "{error}");
    // The client's retries span about 13 s; a refused certificate must not wait through them.
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "a certificate error was retried for {:?}",
        started.elapsed()
    );
}

/// Without credentials the node answers 401 `unauthenticated`; a wrong password too; the
/// password from `--password-file` or `YAK_PASSWORD` gets through.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_come_from_the_password_file_or_the_environment() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let broker = secured_broker(dir.path(), &[]);
    let list = ["topics", "list", "--broker", broker.http.as_str()];

    let error = yak_fails(&list, &[]).await;
    assert!(
        error.contains("401") && error.contains("unauthenticated"),
        "{error}"
    );

    let wrong = yak_fails(&list, &[("YAK_USER", "admin"), ("YAK_PASSWORD", "wrong")]).await;
    assert!(wrong.contains("unauthenticated"), "{wrong}");

    let from_env = yak(
        &[&list[..], &["--user", "admin"]].concat(),
        &[("YAK_PASSWORD", ADMIN_PASSWORD)],
        "",
    )
    .await;
    assert!(json(&from_env)["topics"].is_array(), "{from_env}");

    let file = write(dir.path(), "admin-password", &format!("{ADMIN_PASSWORD}\n"));
    let from_file = yak(
        &[
            &list[..],
            &[
                "--user",
                "admin",
                "--password-file",
                file.to_str().expect("path"),
            ],
        ]
        .concat(),
        &[],
        "",
    )
    .await;
    assert!(json(&from_file)["topics"].is_array(), "{from_file}");

    // --user without any password is a local error, not a request with an empty password.
    let missing = yak_fails(&[&list[..], &["--user", "admin"]].concat(), &[]).await;
    assert!(missing.contains("YAK_PASSWORD"), "{missing}");
}

/// `yak users add|list|delete`: a new user can log in; once deleted it cannot.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_add_list_delete() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let broker = secured_broker(dir.path(), &[]);
    let admin = ["--broker", broker.http.as_str(), "--user", "admin"];
    let env = [("YAK_PASSWORD", ADMIN_PASSWORD)];

    // The new password from standard input.
    let added = yak(
        &[&["users", "add", "alice"][..], &admin].concat(),
        &env,
        "alice-pw\n",
    )
    .await;
    assert!(added.contains("alice"), "{added}");

    let table = yak(&[&["users", "list"][..], &admin].concat(), &env, "").await;
    assert!(table.starts_with("USER"), "{table}");
    assert!(table.lines().any(|l| l.starts_with("alice ")), "{table}");
    let listed = json(
        &yak(
            &[&["users", "list", "--json"][..], &admin].concat(),
            &env,
            "",
        )
        .await,
    );
    let names: Vec<&str> = listed["users"]
        .as_array()
        .expect("users")
        .iter()
        .filter_map(|u| u["name"].as_str())
        .collect();
    assert!(
        names.contains(&"alice") && names.contains(&"admin"),
        "{listed}"
    );
    // Only the mechanisms and iterations are listed, never a credential.
    assert!(!listed.to_string().contains("alice-pw"), "{listed}");

    let as_alice = [
        "topics",
        "list",
        "--broker",
        broker.http.as_str(),
        "--user",
        "alice",
    ];
    yak(&as_alice, &[("YAK_PASSWORD", "alice-pw")], "").await;

    yak(
        &[&["users", "delete", "alice"][..], &admin].concat(),
        &env,
        "",
    )
    .await;
    let error = yak_fails(&as_alice, &[("YAK_PASSWORD", "alice-pw")]).await;
    assert!(error.contains("unauthenticated"), "{error}");
}

/// `yak acls add|list|delete` with authorization on: ACLs appear in the table and the JSON,
/// a filter deletes exactly the matching ones, and an empty delete is refused before any
/// request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acls_add_list_delete() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let broker = secured_broker(
        dir.path(),
        &["--authorization", "true", "--super-users", "User:admin"],
    );
    let admin = ["--broker", broker.http.as_str(), "--user", "admin"];
    let env = [("YAK_PASSWORD", ADMIN_PASSWORD)];
    yak(
        &[
            &[
                "acls",
                "add",
                "--principal",
                "alice",
                "--topic",
                "orders-",
                "--resource-pattern-type",
                "prefixed",
                "--operation",
                "read",
                "--operation",
                "write",
            ][..],
            &admin,
        ]
        .concat(),
        &env,
        "",
    )
    .await;
    yak(
        &[
            &[
                "acls",
                "add",
                "--principal",
                "User:bob",
                "--group",
                "billing",
                "--operation",
                "READ",
                "--deny",
            ][..],
            &admin,
        ]
        .concat(),
        &env,
        "",
    )
    .await;

    let table = yak(&[&["acls", "list"][..], &admin].concat(), &env, "").await;
    assert!(table.starts_with("RESOURCE-TYPE"), "{table}");
    assert_eq!(table.lines().count(), 4, "{table}");
    let alice: Vec<Value> = json(
        &yak(
            &[
                &["acls", "list", "--json", "--principal", "alice"][..],
                &admin,
            ]
            .concat(),
            &env,
            "",
        )
        .await,
    )["acls"]
        .as_array()
        .expect("acls")
        .clone();
    assert_eq!(alice.len(), 2, "{alice:?}");
    for acl in &alice {
        assert_eq!(acl["principal"], "User:alice");
        assert_eq!(acl["resource_type"], "TOPIC");
        assert_eq!(acl["resource_name"], "orders-");
        assert_eq!(acl["pattern_type"], "PREFIXED");
        assert_eq!(acl["permission"], "ALLOW");
    }

    let error = yak_fails(&[&["acls", "delete"][..], &admin].concat(), &env).await;
    assert!(error.contains("every ACL"), "{error}");

    let deleted = json(
        &yak(
            &[
                &["acls", "delete", "--json", "--principal", "User:bob"][..],
                &admin,
            ]
            .concat(),
            &env,
            "",
        )
        .await,
    );
    assert_eq!(
        deleted["acls"].as_array().map(Vec::len),
        Some(1),
        "{deleted}"
    );
    assert_eq!(deleted["acls"][0]["permission"], "DENY");
    let left = json(
        &yak(
            &[&["acls", "list", "--json"][..], &admin].concat(),
            &env,
            "",
        )
        .await,
    );
    assert_eq!(left["acls"].as_array().map(Vec::len), Some(2), "{left}");
}

/// `yak tokens create|list|revoke`: a token works with `--token` and `YAK_TOKEN` until it is
/// revoked; the list never shows the token itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_create_list_revoke() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let broker = secured_broker(dir.path(), &[]);
    let admin = ["--broker", broker.http.as_str(), "--user", "admin"];
    let env = [("YAK_PASSWORD", ADMIN_PASSWORD)];
    let token = yak(
        &[&["tokens", "create", "ci"][..], &admin].concat(),
        &env,
        "",
    )
    .await;
    let token = token.trim().to_string();
    assert!(token.starts_with("yak_"), "{token}");

    let list = ["topics", "list", "--broker", broker.http.as_str()];
    yak(&[&list[..], &["--token", token.as_str()]].concat(), &[], "").await;
    yak(&list, &[("YAK_TOKEN", token.as_str())], "").await;

    let tokens = yak(
        &[&["tokens", "list", "--json"][..], &admin].concat(),
        &env,
        "",
    )
    .await;
    assert!(
        !tokens.contains(&token),
        "the list shows the token: {tokens}"
    );
    let listed = json(&tokens);
    assert!(
        listed["tokens"]
            .as_array()
            .expect("tokens")
            .iter()
            .any(|t| t["name"] == "ci" && t["principal"] == "User:admin"),
        "{listed}"
    );

    yak(
        &[&["tokens", "revoke", "ci"][..], &admin].concat(),
        &env,
        "",
    )
    .await;
    let error = yak_fails(&list, &[("YAK_TOKEN", token.as_str())]).await;
    assert!(error.contains("unauthenticated"), "{error}");
}
