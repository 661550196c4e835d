//! The cluster's users, ACLs and tokens in the coordinator (docs/REPLICATION.md, "Keys in
//! Redis"): `C:security` holds the whole `SecurityState` as JSON, `C:security_version` counts
//! its changes.
//!
//! A change is written by a compare-and-set script that checks the version this node last
//! loaded or wrote, so two nodes changing users at once cannot silently undo each other: the
//! second gets "changed concurrently, retry" (and its node reloads within one controller tick).
//! Every node's controller reads the version each tick and reloads the state when it moved.
//! A coordinator without the key (a new cluster, or a Redis that lost its data) is seeded with
//! the state of the first node that looks.
//!
//! `Security` calls the store on a blocking thread, so this uses Redis's blocking connection,
//! with the same call timeout as the coordinator.

use std::sync::Mutex;
use std::time::Duration;

use redis::Script;
use yak_auth::SecurityState;

use super::coordinator::REDIS_CALL_MS_MAX;
use crate::error::BrokerError;
use crate::security::SecurityStore;

/// Writes the state if the version is the one expected. KEYS state, version; ARGV expected
/// version ("" = absent), JSON. Answers the new version, or -1 when the version moved.
const SAVE: &str = r#"
local current = redis.call('GET', KEYS[2]) or ''
if current ~= ARGV[1] then return -1 end
redis.call('SET', KEYS[1], ARGV[2])
return redis.call('INCR', KEYS[2])
"#;

/// Largest state a node loads from the coordinator (users, ACLs and tokens of a cluster are
/// kilobytes; a value this large is not one this project wrote).
pub const SECURITY_STATE_BYTES_MAX: usize = 64 * 1024 * 1024;

pub struct RedisSecurityStore {
    client: redis::Client,
    state_key: String,
    version_key: String,
    /// A blocking connection, made when needed and dropped after any failure.
    connection: Mutex<Option<redis::Connection>>,
    /// The version this node holds: loaded or written last (None before the first load).
    version: Mutex<Option<i64>>,
}

impl std::fmt::Debug for RedisSecurityStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisSecurityStore")
            .field("state_key", &self.state_key)
            .finish_non_exhaustive()
    }
}

fn unavailable(error: impl std::fmt::Display) -> BrokerError {
    BrokerError::Storage(format!(
        "cannot reach the coordinator for the security state: {error}"
    ))
}

impl RedisSecurityStore {
    pub fn new(client: redis::Client, cluster: &str) -> RedisSecurityStore {
        RedisSecurityStore {
            client,
            state_key: format!("{cluster}:security"),
            version_key: format!("{cluster}:security_version"),
            connection: Mutex::new(None),
            version: Mutex::new(None),
        }
    }

    /// Runs `call` on the connection (made if needed); a failure drops it.
    fn run<T>(
        &self,
        call: impl FnOnce(&mut redis::Connection) -> redis::RedisResult<T>,
    ) -> Result<T, BrokerError> {
        let mut slot = self.connection.lock().unwrap_or_else(|p| p.into_inner());
        if slot.is_none() {
            let timeout = Duration::from_millis(REDIS_CALL_MS_MAX);
            let connection = self
                .client
                .get_connection_with_timeout(timeout)
                .and_then(|c| {
                    c.set_read_timeout(Some(timeout))?;
                    c.set_write_timeout(Some(timeout))?;
                    Ok(c)
                })
                .map_err(unavailable)?;
            *slot = Some(connection);
        }
        let Some(connection) = slot.as_mut() else {
            return Err(unavailable("no connection"));
        };
        call(connection).map_err(|error| {
            *slot = None;
            unavailable(error)
        })
    }

    fn known_version(&self) -> Option<i64> {
        *self.version.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn set_known_version(&self, version: i64) {
        *self.version.lock().unwrap_or_else(|p| p.into_inner()) = Some(version);
    }

    /// Compare-and-set: `expected` is the version text the coordinator must hold ("" for none).
    fn write(&self, expected: String, state: &SecurityState) -> Result<(), BrokerError> {
        let json = serde_json::to_string(state)
            .map_err(|e| BrokerError::Internal(format!("cannot encode the security state: {e}")))?;
        let script = Script::new(SAVE);
        let (state_key, version_key) = (&self.state_key, &self.version_key);
        let version: i64 = self.run(|c| {
            script
                .key(state_key)
                .key(version_key)
                .arg(expected)
                .arg(json)
                .invoke(c)
        })?;
        if version < 0 {
            return Err(BrokerError::Storage(
                "the users, ACLs or tokens changed on another node at the same time; retry".into(),
            ));
        }
        self.set_known_version(version);
        Ok(())
    }
}

impl SecurityStore for RedisSecurityStore {
    fn save(&self, state: &SecurityState) -> Result<(), BrokerError> {
        let expected = self
            .known_version()
            .map(|v| v.to_string())
            .unwrap_or_default();
        self.write(expected, state)
    }

    fn refresh(&self, current: &SecurityState) -> Result<Option<SecurityState>, BrokerError> {
        let (version_key, state_key) = (&self.version_key, &self.state_key);
        let version: Option<String> = self.run(|c| redis::cmd("GET").arg(version_key).query(c))?;
        let parsed = match &version {
            None => None,
            Some(text) => Some(text.parse::<i64>().map_err(|_| {
                BrokerError::Storage(format!("{version_key} holds {text:?}, not a number"))
            })?),
        };
        if parsed.is_some() && parsed == self.known_version() {
            return Ok(None);
        }
        // Both in one round trip, so the state read is the one of the version read.
        let (version, json): (Option<String>, Option<Vec<u8>>) = self.run(|c| {
            redis::pipe()
                .atomic()
                .get(version_key)
                .get(state_key)
                .query(c)
        })?;
        let Some(json) = json else {
            // Nothing stored: this node's state becomes the cluster's.
            tracing::info!("the coordinator holds no users or ACLs: seeding it with this node's");
            self.write(version.unwrap_or_default(), current)?;
            return Ok(None);
        };
        if json.len() > SECURITY_STATE_BYTES_MAX {
            return Err(BrokerError::Storage(format!(
                "{state_key} holds {} bytes, over {SECURITY_STATE_BYTES_MAX}",
                json.len()
            )));
        }
        let version = version
            .as_deref()
            .and_then(|v| v.parse::<i64>().ok())
            .ok_or_else(|| {
                BrokerError::Storage(format!("{version_key} is missing or not a number"))
            })?;
        let state: SecurityState = serde_json::from_slice(&json)
            .map_err(|e| BrokerError::Storage(format!("{state_key} does not parse: {e}")))?;
        self.set_known_version(version);
        Ok(Some(state))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `redis-server` of its own on a free port, killed when dropped.
    struct RedisServer {
        child: std::process::Child,
        url: String,
        _dir: tempfile::TempDir,
    }

    impl Drop for RedisServer {
        fn drop(&mut self) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }

    /// None (and a note on stderr) where `redis-server` is not installed.
    fn redis_server() -> Option<RedisServer> {
        let dir = tempfile::tempdir().expect("tempdir");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let child = match std::process::Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
            ])
            .args(["--appendonly", "no"])
            .current_dir(dir.path())
            .stdout(std::process::Stdio::null())
            .spawn()
        {
            Ok(child) => child,
            Err(error) => {
                eprintln!("redis-server not started ({error}): test skipped");
                return None;
            }
        };
        let server = RedisServer {
            child,
            url: format!("redis://127.0.0.1:{port}/0"),
            _dir: dir,
        };
        let client = redis::Client::open(server.url.as_str()).expect("url");
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while client
            .get_connection_with_timeout(Duration::from_millis(200))
            .and_then(|mut c| redis::cmd("PING").query::<String>(&mut c))
            .is_err()
        {
            assert!(
                std::time::Instant::now() < deadline,
                "redis-server never answered"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        Some(server)
    }

    fn store(server: &RedisServer) -> RedisSecurityStore {
        RedisSecurityStore::new(
            redis::Client::open(server.url.as_str()).expect("url"),
            "test",
        )
    }

    fn with_user(user: &str) -> SecurityState {
        let mut state = SecurityState::default();
        state.set_password(user, "pw", 4096).expect("password");
        state
    }

    /// The first node seeds an empty coordinator; another node loads that state; a change one
    /// node saves reaches the other at its next refresh; and a change saved from a stale
    /// version is refused instead of undoing the other node's.
    #[test]
    fn concurrent_changes_are_refused_not_lost() {
        let Some(server) = redis_server() else {
            return;
        };
        let (first, second) = (store(&server), store(&server));
        assert_eq!(first.refresh(&with_user("seed")).expect("seed"), None);
        let loaded = second
            .refresh(&SecurityState::default())
            .expect("load")
            .expect("the seeded state");
        assert!(loaded.users.contains_key("seed"));
        assert_eq!(second.refresh(&loaded).expect("unchanged"), None);

        first.save(&with_user("alice")).expect("first change");
        let error = second
            .save(&with_user("bob"))
            .expect_err("saved from a stale version");
        assert!(error.to_string().contains("retry"), "{error}");

        let reloaded = second
            .refresh(&loaded)
            .expect("reload")
            .expect("the first node's change");
        assert!(reloaded.users.contains_key("alice") && !reloaded.users.contains_key("bob"));
        second
            .save(&with_user("bob"))
            .expect("saved from the current version");
        assert!(first
            .refresh(&SecurityState::default())
            .expect("reload")
            .expect("the second node's change")
            .users
            .contains_key("bob"));
    }
}
