//! HTTP authentication and authorization against a real node: Basic, bearer tokens, console
//! sessions with their CSRF token, ACLs on produce, consume and topic creation, the `/users`
//! and `/acls` endpoints, and a node without security that behaves as it always did.

mod common;

use common::{assert_error, client, json_of, Broker};
use serde_json::{json, Value};

const ADMIN_PASSWORD: &str = "admin-secret";

/// A node with `--authentication true` (and `--authorization true` when `acls`), and an
/// `admin` super user.
fn secure_broker(acls: bool) -> (Broker, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temporary directory");
    let password_file = dir.path().join("admin-password");
    std::fs::write(&password_file, ADMIN_PASSWORD).expect("write the password file");
    let password_file = password_file.to_string_lossy().into_owned();
    let mut args = vec![
        "--authentication",
        "true",
        "--bootstrap-user",
        "admin",
        "--bootstrap-password-file",
        &password_file,
        // Failed logins are delayed; keep the tests' deliberate failures quick.
        "--login-failure-delay-ms-max",
        "200",
    ];
    if acls {
        args.extend(["--authorization", "true", "--super-users", "User:admin"]);
    }
    (Broker::start_with(&args), dir)
}

/// Requests as one principal: Basic credentials, a bearer token, or nothing.
#[derive(Clone)]
enum As {
    Nobody,
    Basic(&'static str, &'static str),
    Bearer(String),
}

async fn call(
    http: &reqwest::Client,
    who: &As,
    method: reqwest::Method,
    url: &str,
    body: Option<&Value>,
) -> (u16, Value) {
    let mut request = http.request(method, url);
    request = match who {
        As::Nobody => request,
        As::Basic(user, password) => request.basic_auth(user, Some(password)),
        As::Bearer(token) => request.bearer_auth(token),
    };
    if let Some(body) = body {
        request = request.json(body);
    }
    json_of(request.send().await.expect("request")).await
}

async fn get_as(http: &reqwest::Client, who: &As, url: &str) -> (u16, Value) {
    call(http, who, reqwest::Method::GET, url, None).await
}

async fn post_as(http: &reqwest::Client, who: &As, url: &str, body: &Value) -> (u16, Value) {
    call(http, who, reqwest::Method::POST, url, Some(body)).await
}

const ADMIN: As = As::Basic("admin", ADMIN_PASSWORD);
const ALICE: As = As::Basic("alice", "alice-secret");

async fn add_user(http: &reqwest::Client, broker: &Broker, name: &str, password: &str) {
    let answer = post_as(
        http,
        &ADMIN,
        &broker.url("/users"),
        &json!({"name": name, "password": password, "iterations": 4096}),
    )
    .await;
    assert_eq!(answer.0, 201, "add user {name}: {answer:?}");
}

async fn add_acl(http: &reqwest::Client, broker: &Broker, acl: Value) {
    let answer = post_as(http, &ADMIN, &broker.url("/acls"), &acl).await;
    assert_eq!(answer.0, 201, "add ACL {acl}: {answer:?}");
}

fn record(topic: &str) -> Value {
    json!({"topic": topic, "key": "k", "payload": {"n": 1}})
}

/// Without credentials every path but the health check and the console's page answers 401;
/// a wrong password is a 401; Basic and bearer tokens work, and a revoked token stops working.
#[tokio::test]
async fn authentication_on_refuses_requests_without_valid_credentials() {
    let (broker, _dir) = secure_broker(false);
    let http = client();

    for path in [
        "/topics",
        "/cluster",
        "/auth/whoami",
        "/openapi.json",
        "/no-such",
    ] {
        let answer = get_as(&http, &As::Nobody, &broker.url(path)).await;
        assert_error(path, &answer, 401, "unauthenticated");
    }
    let answer = post_as(&http, &As::Nobody, &broker.url("/produce"), &record("t")).await;
    assert_error("anonymous produce", &answer, 401, "unauthenticated");
    assert_eq!(
        get_as(&http, &As::Nobody, &broker.url("/health")).await.0,
        200
    );
    let console = http.get(broker.url("/")).send().await.expect("GET /");
    assert_eq!(
        console.status().as_u16(),
        200,
        "the console's login page is open"
    );

    let wrong = As::Basic("admin", "not-the-password");
    assert_error(
        "wrong password",
        &get_as(&http, &wrong, &broker.url("/topics")).await,
        401,
        "unauthenticated",
    );
    let unknown = As::Basic("mallory", "whatever");
    assert_error(
        "unknown user",
        &get_as(&http, &unknown, &broker.url("/topics")).await,
        401,
        "unauthenticated",
    );

    let (status, whoami) = get_as(&http, &ADMIN, &broker.url("/auth/whoami")).await;
    assert_eq!(status, 200, "{whoami}");
    assert_eq!(whoami["principal"], "User:admin");
    assert_eq!(whoami["authentication_required"], true);
    assert_eq!(get_as(&http, &ADMIN, &broker.url("/topics")).await.0, 200);

    let (status, created) = post_as(
        &http,
        &ADMIN,
        &broker.url("/auth/tokens"),
        &json!({"name": "ci"}),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let token = created["token"].as_str().expect("a token").to_string();
    assert!(token.starts_with("yak_"), "{token}");
    let bearer = As::Bearer(token.clone());
    let (status, whoami) = get_as(&http, &bearer, &broker.url("/auth/whoami")).await;
    assert_eq!((status, &whoami["principal"]), (200, &json!("User:admin")));
    let (status, tokens) = get_as(&http, &ADMIN, &broker.url("/auth/tokens")).await;
    assert_eq!(status, 200);
    assert_eq!(tokens["tokens"][0]["name"], "ci");
    assert!(
        !tokens.to_string().contains(&token),
        "a token list never shows the token"
    );
    assert_error(
        "forged token",
        &get_as(
            &http,
            &As::Bearer("yak_forged".into()),
            &broker.url("/topics"),
        )
        .await,
        401,
        "unauthenticated",
    );

    let revoked = call(
        &http,
        &ADMIN,
        reqwest::Method::DELETE,
        &broker.url("/auth/tokens/ci"),
        None,
    )
    .await;
    assert_eq!(revoked.0, 204, "{revoked:?}");
    assert_error(
        "revoked token",
        &get_as(&http, &bearer, &broker.url("/topics")).await,
        401,
        "unauthenticated",
    );
    let log = broker.log();
    assert!(
        !log.contains(ADMIN_PASSWORD) && !log.contains(&token),
        "the log holds a secret"
    );
}

/// ACLs decide produce, consume and topic creation: what is allowed works, the rest is 403
/// `forbidden`; prefixed ACLs match by prefix; a DENY wins over an ALLOW; the topic list shows
/// only what the caller may describe.
#[tokio::test]
async fn acls_decide_produce_consume_and_topic_creation() {
    let (broker, _dir) = secure_broker(true);
    let http = client();
    add_user(&http, &broker, "alice", "alice-secret").await;
    for name in ["orders", "secret"] {
        let answer = post_as(
            &http,
            &ADMIN,
            &broker.url("/topics"),
            &json!({"name": name, "partitions": 1}),
        )
        .await;
        assert_eq!(answer.0, 201, "{answer:?}");
    }

    // Authenticated, but no ACL names alice yet: deny by default.
    let answer = post_as(&http, &ALICE, &broker.url("/produce"), &record("orders")).await;
    assert_error("produce without an ACL", &answer, 403, "forbidden");
    let message = answer.1["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("WRITE") && message.contains("orders"),
        "the refusal names the operation and resource: {message}"
    );

    add_acl(
        &http,
        &broker,
        json!({"resource_type": "TOPIC", "resource_name": "orders", "principal": "User:alice", "operation": "WRITE"}),
    )
    .await;
    let (status, landed) = post_as(&http, &ALICE, &broker.url("/produce"), &record("orders")).await;
    assert_eq!(status, 200, "allowed produce: {landed}");
    let answer = post_as(&http, &ALICE, &broker.url("/produce"), &record("secret")).await;
    assert_error("produce to another topic", &answer, 403, "forbidden");
    let answer = post_as(&http, &ALICE, &broker.url("/produce"), &record("fresh")).await;
    assert_error(
        "produce that would create a topic",
        &answer,
        403,
        "forbidden",
    );
    let answer = post_as(
        &http,
        &ALICE,
        &broker.url("/topics"),
        &json!({"name": "mine", "partitions": 1}),
    )
    .await;
    assert_error("topic create", &answer, 403, "forbidden");

    let consume_url = broker.url("/consume?topic=orders&partition=0&offset=earliest");
    assert_error(
        "consume without READ",
        &get_as(&http, &ALICE, &consume_url).await,
        403,
        "forbidden",
    );
    // A prefixed ACL on `ord` covers `orders`.
    add_acl(
        &http,
        &broker,
        json!({"resource_type": "TOPIC", "resource_name": "ord", "pattern_type": "PREFIXED", "principal": "User:alice", "operation": "READ"}),
    )
    .await;
    let (status, consumed) = get_as(&http, &ALICE, &consume_url).await;
    assert_eq!(status, 200, "{consumed}");
    assert_eq!(consumed["messages"].as_array().map(Vec::len), Some(1));
    let group_url = format!("{consume_url}&group=readers");
    assert_error(
        "consume in a group without READ on it",
        &get_as(&http, &ALICE, &group_url).await,
        403,
        "forbidden",
    );
    add_acl(
        &http,
        &broker,
        json!({"resource_type": "GROUP", "resource_name": "readers", "principal": "User:alice", "operation": "READ"}),
    )
    .await;
    assert_eq!(get_as(&http, &ALICE, &group_url).await.0, 200);

    // The list shows orders (WRITE and READ imply DESCRIBE), not secret.
    let (status, list) = get_as(&http, &ALICE, &broker.url("/topics")).await;
    assert_eq!(status, 200);
    let names: Vec<&str> = list["topics"]
        .as_array()
        .expect("topics")
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    assert_eq!(names, ["orders"]);
    let (_, all) = get_as(&http, &ADMIN, &broker.url("/topics")).await;
    let all = all.to_string();
    assert!(
        all.contains("\"secret\"") && all.contains("\"orders\""),
        "a super user sees every topic: {all}"
    );
    assert_error(
        "describe a topic alice may not see",
        &get_as(&http, &ALICE, &broker.url("/topics/secret")).await,
        403,
        "forbidden",
    );

    // DENY wins over the prefixed ALLOW.
    add_acl(
        &http,
        &broker,
        json!({"resource_type": "TOPIC", "resource_name": "orders", "principal": "User:alice", "operation": "READ", "permission": "DENY"}),
    )
    .await;
    assert_error(
        "consume with a DENY",
        &get_as(&http, &ALICE, &consume_url).await,
        403,
        "forbidden",
    );
    // /cluster and /metrics need DESCRIBE on the cluster.
    assert_error(
        "cluster",
        &get_as(&http, &ALICE, &broker.url("/cluster")).await,
        403,
        "forbidden",
    );
    assert_eq!(get_as(&http, &ADMIN, &broker.url("/cluster")).await.0, 200);
}

/// `/users` and `/acls` round trip for a principal with ALTER on the cluster and refuse one
/// without; an empty ACL delete filter is refused; a changed password or a deleted user stops
/// working at once, though the old password was verified (and remembered) a moment before.
#[tokio::test]
async fn users_and_acls_round_trip_and_need_alter_on_the_cluster() {
    let (broker, _dir) = secure_broker(true);
    let http = client();
    add_user(&http, &broker, "alice", "alice-secret").await;
    add_user(&http, &broker, "bob", "bob-secret").await;

    let (status, users) = get_as(&http, &ADMIN, &broker.url("/users")).await;
    assert_eq!(status, 200);
    let alice = users["users"]
        .as_array()
        .expect("users")
        .iter()
        .find(|u| u["name"] == "alice")
        .expect("alice is listed")
        .clone();
    assert_eq!(alice["mechanisms"].as_array().map(Vec::len), Some(2));
    assert!(!users.to_string().contains("salt"), "no credential shown");

    assert_error(
        "alice lists users",
        &get_as(&http, &ALICE, &broker.url("/users")).await,
        403,
        "forbidden",
    );
    assert_error(
        "alice adds a user",
        &post_as(
            &http,
            &ALICE,
            &broker.url("/users"),
            &json!({"name": "eve", "password": "x"}),
        )
        .await,
        403,
        "forbidden",
    );
    let own_acl = json!({"resource_type": "CLUSTER", "resource_name": "kafka-cluster", "principal": "User:alice", "operation": "ALTER"});
    assert_error(
        "alice grants herself ALTER",
        &post_as(&http, &ALICE, &broker.url("/acls"), &own_acl).await,
        403,
        "forbidden",
    );

    add_acl(&http, &broker, own_acl.clone()).await;
    let (status, created) = post_as(&http, &ADMIN, &broker.url("/acls"), &own_acl).await;
    assert_eq!((status, &created["created"]), (201, &json!(false)));
    // ALTER on the cluster implies DESCRIBE: alice now manages users and ACLs.
    let (status, acls) = get_as(
        &http,
        &ALICE,
        &broker.url("/acls?principal=User:alice&resource_type=CLUSTER"),
    )
    .await;
    assert_eq!(status, 200, "{acls}");
    assert_eq!(acls["acls"][0]["operation"], "ALTER");
    assert_eq!(acls["acls"][0]["host"], "*");
    let bad = post_as(
        &http,
        &ADMIN,
        &broker.url("/acls"),
        &json!({"resource_type": "TOPIC", "resource_name": "t", "principal": "User:alice", "operation": "FLY"}),
    )
    .await;
    assert_error("unknown operation", &bad, 400, "invalid_field");
    let everything = call(
        &http,
        &ADMIN,
        reqwest::Method::DELETE,
        &broker.url("/acls"),
        None,
    )
    .await;
    assert_error("empty delete filter", &everything, 400, "invalid_field");

    // Bob's password works and is remembered; a new password replaces it at once.
    let bob = As::Basic("bob", "bob-secret");
    assert_eq!(
        get_as(&http, &bob, &broker.url("/auth/whoami")).await.0,
        200
    );
    add_user(&http, &broker, "bob", "bob-new-secret").await;
    assert_error(
        "bob's old password",
        &get_as(&http, &bob, &broker.url("/auth/whoami")).await,
        401,
        "unauthenticated",
    );
    let new_bob = As::Basic("bob", "bob-new-secret");
    assert_eq!(
        get_as(&http, &new_bob, &broker.url("/auth/whoami")).await.0,
        200
    );
    // A console session of bob's ends with bob.
    let bob_session = login(&http, &broker, "bob", "bob-new-secret").await;
    let whoami_with_cookie = || {
        http.get(broker.url("/auth/whoami"))
            .header("cookie", &bob_session.cookie)
            .send()
    };
    assert_eq!(
        whoami_with_cookie()
            .await
            .expect("whoami")
            .status()
            .as_u16(),
        200
    );
    let deleted = call(
        &http,
        &ALICE,
        reqwest::Method::DELETE,
        &broker.url("/users/bob"),
        None,
    )
    .await;
    assert_eq!(deleted.0, 204, "{deleted:?}");
    assert_error(
        "deleted user",
        &get_as(&http, &new_bob, &broker.url("/auth/whoami")).await,
        401,
        "unauthenticated",
    );
    assert_error(
        "deleted user's console session",
        &json_of(whoami_with_cookie().await.expect("whoami")).await,
        401,
        "unauthenticated",
    );

    let (status, removed) = call(
        &http,
        &ADMIN,
        reqwest::Method::DELETE,
        &broker.url("/acls?principal=User:alice"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{removed}");
    assert_eq!(removed["acls"].as_array().map(Vec::len), Some(1));
    assert_error(
        "alice after her ACL went",
        &get_as(&http, &ALICE, &broker.url("/users")).await,
        403,
        "forbidden",
    );
}

struct Session {
    cookie: String,
    csrf_token: String,
    set_cookie: String,
}

async fn login(http: &reqwest::Client, broker: &Broker, user: &str, password: &str) -> Session {
    let response = http
        .post(broker.url("/auth/login"))
        .json(&json!({"username": user, "password": password}))
        .send()
        .await
        .expect("login");
    let set_cookie = response
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let (status, body) = json_of(response).await;
    assert_eq!(status, 200, "login: {body}");
    Session {
        cookie: set_cookie.split(';').next().unwrap_or_default().to_string(),
        csrf_token: body["csrf_token"]
            .as_str()
            .expect("a CSRF token")
            .to_string(),
        set_cookie,
    }
}

/// A console session: its cookie's flags, writes refused without the session's CSRF token and
/// accepted with it, reads that need none, and a logout that ends it.
#[tokio::test]
async fn console_session_writes_need_the_csrf_token_and_logout_ends_it() {
    let (broker, _dir) = secure_broker(false);
    let http = client();

    let wrong = http
        .post(broker.url("/auth/login"))
        .json(&json!({"username": "admin", "password": "nope"}))
        .send()
        .await
        .expect("login");
    assert!(wrong.headers().get("set-cookie").is_none());
    assert_error("wrong login", &json_of(wrong).await, 401, "unauthenticated");

    let session = login(&http, &broker, "admin", ADMIN_PASSWORD).await;
    let flags: Vec<&str> = session.set_cookie.split(';').map(str::trim).collect();
    assert!(session.cookie.starts_with("yak_session="), "{flags:?}");
    for flag in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(flags.contains(&flag), "{flag} missing from {flags:?}");
    }
    assert!(
        !flags.contains(&"Secure"),
        "Secure on plain HTTP would make browsers drop the cookie: {flags:?}"
    );

    let (status, whoami) = json_of(
        http.get(broker.url("/auth/whoami"))
            .header("cookie", &session.cookie)
            .send()
            .await
            .expect("whoami"),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(whoami["principal"], "User:admin");
    assert_eq!(whoami["csrf_token"], json!(session.csrf_token));

    let create = |csrf: Option<&str>, name: &str| {
        let mut request = http
            .post(broker.url("/topics"))
            .header("cookie", &session.cookie)
            .json(&json!({"name": name, "partitions": 1}));
        if let Some(csrf) = csrf {
            request = request.header("x-csrf-token", csrf);
        }
        request.send()
    };
    let answer = json_of(create(None, "no-token").await.expect("create")).await;
    assert_error(
        "write without the token",
        &answer,
        403,
        "csrf_token_invalid",
    );
    let answer = json_of(create(Some("guess"), "bad-token").await.expect("create")).await;
    assert_error(
        "write with a wrong token",
        &answer,
        403,
        "csrf_token_invalid",
    );
    let answer = json_of(
        create(Some(&session.csrf_token), "with-token")
            .await
            .expect("create"),
    )
    .await;
    assert_eq!(answer.0, 201, "write with the token: {answer:?}");
    let (status, topics) = json_of(
        http.get(broker.url("/topics"))
            .header("cookie", &session.cookie)
            .send()
            .await
            .expect("topics"),
    )
    .await;
    assert_eq!(status, 200, "a read needs no token");
    assert_eq!(topics["topics"][0]["name"], "with-token");

    let logout = http
        .post(broker.url("/auth/logout"))
        .header("cookie", &session.cookie)
        .header("x-csrf-token", &session.csrf_token)
        .send()
        .await
        .expect("logout");
    assert_eq!(logout.status().as_u16(), 204);
    let cleared = logout
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    assert!(cleared.contains("Max-Age=0"), "{cleared}");
    let after = json_of(
        http.get(broker.url("/topics"))
            .header("cookie", &session.cookie)
            .send()
            .await
            .expect("topics"),
    )
    .await;
    assert_error("the ended session", &after, 401, "unauthenticated");
}

/// A node without authentication answers as it always did, as `User:ANONYMOUS`; credentials
/// that are presented are still checked.
#[tokio::test]
async fn node_without_authentication_behaves_as_before() {
    let broker = Broker::start();
    let http = client();
    let (status, landed) = post_as(&http, &As::Nobody, &broker.url("/produce"), &record("t")).await;
    assert_eq!(status, 200, "{landed}");
    for path in [
        "/topics",
        "/topics/t",
        "/cluster",
        "/groups",
        "/activity",
        "/metrics",
    ] {
        let answer = http.get(broker.url(path)).send().await.expect("GET");
        assert_eq!(answer.status().as_u16(), 200, "{path}");
    }
    let (status, whoami) = get_as(&http, &As::Nobody, &broker.url("/auth/whoami")).await;
    assert_eq!(status, 200);
    assert_eq!(
        whoami,
        json!({"principal": "User:ANONYMOUS", "authentication_required": false, "authorization_enabled": false})
    );
    assert_error(
        "a wrong password is still wrong",
        &get_as(&http, &As::Basic("nobody", "x"), &broker.url("/topics")).await,
        401,
        "unauthenticated",
    );
    // A stale console cookie is ignored rather than refused on a node that needs no login.
    let stale = http
        .get(broker.url("/topics"))
        .header("cookie", "yak_session=gone")
        .send()
        .await
        .expect("GET");
    assert_eq!(stale.status().as_u16(), 200);
}
