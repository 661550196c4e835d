//! The OpenAPI document at `GET /openapi.json`, generated from the handlers' annotations and the
//! `yak-api` types, so it cannot drift from the code.
//!
//! The annotations give the shapes; [`document`] then adds the bounds the handlers check, taken
//! from the same constants and limits the handlers use (topic-name rules, partition counts, the
//! node's `HttpLimits`), and the rules serde types cannot state (a record needs a topic, at the
//! top of a batch or on every record). A request the document calls valid is accepted, or
//! refused only for the state of the broker (an unknown topic, an offset outside the log).

use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use serde_json::{json, Value};
use utoipa::OpenApi;

use crate::config::HttpLimits;
use crate::topic::{TOPIC_NAME_CHARS_MAX, TOPIC_PARTITIONS_MAX};

/// `validate_topic_name` as a pattern: ASCII letters, digits, `.`, `_` and `-`, but not `.` or
/// `..` alone (written without look-ahead, which not every JSON Schema tool supports).
pub const TOPIC_NAME_PATTERN: &str =
    r"^([a-zA-Z0-9_-][a-zA-Z0-9._-]*|\.[a-zA-Z0-9_-][a-zA-Z0-9._-]*|\.\.[a-zA-Z0-9._-]+)$";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "YAK HTTP API",
        description = "Produce, consume and administer a YAK broker. A record's key picks its \
            partition (Kafka's murmur2); keyless records spread over the partitions: each run of \
            up to 100 keyless records of a request goes to the next partition, round-robin."
    ),
    paths(
        super::produce::produce,
        super::consume::consume,
        super::consume::consume_stream,
        super::topics::list_topics,
        super::topics::create_topic,
        super::topics::describe_topic,
        super::topics::delete_topic,
        super::topics::alter_topic_configs,
        super::status::health,
        super::status::leader,
        super::status::cluster,
        super::status::metrics,
        super::groups::list_groups,
        super::groups::describe_group,
        super::groups::delete_group,
        super::groups::reset_offsets,
        super::groups::commit_offset,
        super::events::events,
        super::events::activity,
        super::security::login,
        super::security::logout,
        super::security::whoami,
        super::security::create_token,
        super::security::list_tokens,
        super::security::delete_token,
        super::security::list_users,
        super::security::upsert_user,
        super::security::delete_user,
        super::security::list_acls,
        super::security::create_acl,
        super::security::delete_acls,
    ),
    components(schemas(
        yak_api::ErrorBody,
        yak_api::ApiError,
        yak_api::ErrorCode,
        yak_api::ProduceRecord,
        yak_api::ProduceBatch,
        yak_api::ProduceResult,
        yak_api::ProduceOutcome,
        yak_api::ProduceBatchResponse,
        yak_api::ProduceAnswer,
        yak_api::ConsumedRecord,
        yak_api::ConsumeResponse,
        yak_api::ConsumeStreamEvent,
        yak_api::CreateTopicRequest,
        yak_api::AlterTopicConfigsRequest,
        yak_api::TopicSummary,
        yak_api::TopicList,
        yak_api::TopicDetail,
        yak_api::PartitionState,
        yak_api::DeleteTopicResponse,
        yak_api::LeaderInfo,
        yak_api::Health,
        yak_api::NodeState,
        yak_api::Election,
        yak_api::ClusterState,
        yak_api::GroupList,
        yak_api::GroupSummary,
        yak_api::GroupDetail,
        yak_api::GroupMember,
        yak_api::GroupOffset,
        yak_api::TopicPartitions,
        yak_api::ResetPosition,
        yak_api::ResetToOffset,
        yak_api::ResetToTimestamp,
        yak_api::ResetTo,
        yak_api::ResetOffsetsRequest,
        yak_api::ResetOffsetsResponse,
        yak_api::CommitOffsetRequest,
        yak_api::DeleteGroupResponse,
        yak_api::StatsEvent,
        yak_api::ActivityEvent,
        yak_api::ActivityKind,
        yak_api::ActivityList,
        yak_api::ConsoleEvent,
        yak_api::security::LoginRequest,
        yak_api::security::WhoAmI,
        yak_api::security::CreateTokenRequest,
        yak_api::security::CreatedToken,
        yak_api::security::TokenInfo,
        yak_api::security::TokenList,
        yak_api::security::UpsertUserRequest,
        yak_api::security::UserInfo,
        yak_api::security::UserMechanism,
        yak_api::security::UserList,
        yak_api::security::AclEntry,
        yak_api::security::AclFilter,
        yak_api::security::AclList,
        yak_api::security::AclCreated,
    ))
)]
pub struct ApiDoc;

/// A topic name as the broker accepts it; `nullable` for optional fields that may be `null`.
fn topic_name_schema(nullable: bool) -> Value {
    json!({
        "type": if nullable { json!(["string", "null"]) } else { json!("string") },
        "minLength": 1,
        "maxLength": TOPIC_NAME_CHARS_MAX,
        "pattern": TOPIC_NAME_PATTERN,
    })
}

/// Merges `patch` into the object at `path` (object keys), creating nothing: a path that is
/// not in the generated document is a bug in this file, caught by the tests below.
fn merge(document: &mut Value, path: &[&str], patch: Value) {
    let mut target = &mut *document;
    for key in path {
        target = target
            .get_mut(*key)
            .unwrap_or_else(|| panic!("the OpenAPI document has no {path:?}"));
    }
    let (Some(target), Value::Object(patch)) = (target.as_object_mut(), patch) else {
        panic!("{path:?} and its patch must be objects");
    };
    target.extend(patch);
}

/// Merges `patch` into the schema of query parameter `name` of `GET path`.
fn merge_param(document: &mut Value, path: &str, name: &str, patch: Value) {
    let parameters = document["paths"][path]["get"]["parameters"]
        .as_array_mut()
        .unwrap_or_else(|| panic!("GET {path} has no parameters"));
    let parameter = parameters
        .iter_mut()
        .find(|p| p["name"] == name)
        .unwrap_or_else(|| panic!("GET {path} has no parameter {name}"));
    merge(parameter, &["schema"], patch);
}

/// The document this node serves: the generated one with the handlers' bounds.
pub fn document(limits: &HttpLimits) -> Value {
    let mut document =
        serde_json::to_value(ApiDoc::openapi()).expect("the OpenAPI document is plain data");
    let schemas = ["components", "schemas"];
    let schema = |name: &'static str| [schemas[0], schemas[1], name];

    for path in ["/consume", "/consume/stream"] {
        merge_param(&mut document, path, "topic", topic_name_schema(false));
        merge_param(
            &mut document,
            path,
            "partition",
            json!({ "maximum": i32::MAX }),
        );
        merge_param(
            &mut document,
            path,
            "max",
            json!({ "maximum": limits.consume_records_max }),
        );
        merge_param(
            &mut document,
            path,
            "wait_ms",
            json!({ "maximum": limits.consume_wait_ms_max }),
        );
    }

    // Topics.
    merge(
        &mut document,
        &[&schema("CreateTopicRequest")[..], &["properties"]].concat(),
        json!({
            "name": topic_name_schema(false),
            "partitions": {
                "type": ["integer", "null"], "format": "int32",
                "minimum": 1, "maximum": TOPIC_PARTITIONS_MAX,
                "description": "Defaults to the broker's `--default-partitions`.",
            },
            "replication_factor": {
                "type": ["integer", "null"], "format": "int32", "minimum": 1, "maximum": 1,
                "description": "1: a standalone broker keeps one replica.",
            },
            "retention_ms": {
                "type": ["integer", "null"], "format": "int64", "minimum": -1, "maximum": i64::MAX,
                "description": "-1 keeps records forever.",
            },
        }),
    );

    // Topic configs: Kafka's names only. Values are checked by the broker's rules for each
    // config (ranges, `cleanup.policy=delete` only), answered with `invalid_config`.
    let config_names: Vec<&str> = crate::topic::TOPIC_CONFIG_NAMES.to_vec();
    merge(
        &mut document,
        &[&schema("CreateTopicRequest")[..], &["properties"]].concat(),
        json!({ "configs": {
            "type": "object",
            "propertyNames": { "enum": config_names },
            "additionalProperties": { "type": ["string", "integer"] },
        } }),
    );
    merge(
        &mut document,
        &[&schema("AlterTopicConfigsRequest")[..], &["properties"]].concat(),
        json!({ "configs": {
            "type": "object",
            "propertyNames": { "enum": config_names },
            "additionalProperties": { "type": ["string", "integer", "null"] },
        } }),
    );

    // Produce: a record needs a topic, and a batch at least one record.
    merge(
        &mut document,
        &[&schema("ProduceRecord")[..], &["properties"]].concat(),
        json!({
            "topic": topic_name_schema(true),
            "partition": {
                "type": ["integer", "null"], "format": "int32", "minimum": 0, "maximum": i32::MAX,
            },
            "timestamp": {
                "type": ["integer", "null"], "format": "int64", "minimum": 0, "maximum": i64::MAX,
                "description": "Milliseconds since the Unix epoch; the broker's clock when absent.",
            },
        }),
    );
    // `messages` belongs to the top of a body only.
    merge(
        &mut document,
        &schema("ProduceRecord"),
        json!({ "not": { "required": ["messages"] } }),
    );
    merge(
        &mut document,
        &[&schema("ProduceBatch")[..], &["properties"]].concat(),
        json!({
            "topic": topic_name_schema(true),
            "messages": {
                "type": "array",
                "items": { "$ref": "#/components/schemas/ProduceRecord" },
                "minItems": 1,
                "maxItems": limits.batch_records_max,
            },
        }),
    );
    let with_topic =
        json!({ "required": ["topic"], "properties": { "topic": { "type": "string" } } });
    let record_with_topic =
        json!({ "allOf": [{ "$ref": "#/components/schemas/ProduceRecord" }, with_topic] });
    merge(
        &mut document,
        &["paths", "/produce", "post", "requestBody", "content"],
        json!({
            "application/json": { "schema": { "anyOf": [
                record_with_topic,
                { "allOf": [{ "$ref": "#/components/schemas/ProduceBatch" }, with_topic] },
                { "allOf": [
                    { "$ref": "#/components/schemas/ProduceBatch" },
                    { "properties": { "messages": { "items": record_with_topic } } },
                ] },
            ] } },
            "application/x-ndjson": { "schema": {
                "description": "One record per line (shown here as an array of the lines' records).",
                "type": "array",
                "items": record_with_topic,
                "minItems": 1,
                "maxItems": limits.ndjson_records_max,
            } },
        }),
    );
    merge(
        &mut document,
        &["paths", "/produce", "post", "responses", "200", "content"],
        json!({
            "application/x-ndjson": { "schema": {
                "description": "One outcome per line, in the order of the request's lines (shown here as an array).",
                "type": "array",
                "items": { "$ref": "#/components/schemas/ProduceOutcome" },
            } },
        }),
    );
    // How a request authenticates on a node with `authentication` on (see `http::auth`);
    // `/health`, `/auth/login` and the console's page need none.
    merge(
        &mut document,
        &["components"],
        json!({
            "securitySchemes": {
                "basic": { "type": "http", "scheme": "basic" },
                "bearer": { "type": "http", "scheme": "bearer", "description": "A token from POST /auth/tokens (`yak_…`)." },
                "session": { "type": "apiKey", "in": "cookie", "name": super::auth::SESSION_COOKIE_NAME, "description": "The console's session from POST /auth/login; a write also carries `X-CSRF-Token`." },
            },
        }),
    );
    if let Some(root) = document.as_object_mut() {
        root.insert(
            "security".to_string(),
            json!([{ "basic": [] }, { "bearer": [] }, { "session": [] }, {}]),
        );
    }
    document
}

pub fn router<S: Clone + Send + Sync + 'static>(limits: &HttpLimits) -> Router<S> {
    // Built once: the document depends only on the code and the node's limits.
    let body = bytes::Bytes::from(document(limits).to_string());
    Router::new().route(
        "/openapi.json",
        get(move || {
            let body = body.clone();
            async move { ([(header::CONTENT_TYPE, "application/json")], body).into_response() }
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::topic::validate_topic_name;

    /// The document builds (every patched path exists) and carries the node's limits.
    #[test]
    fn document_carries_the_limits_the_handlers_check() {
        let limits = HttpLimits::default();
        let document = document(&limits);
        let parameters = document["paths"]["/consume"]["get"]["parameters"]
            .as_array()
            .unwrap();
        let topic = parameters.iter().find(|p| p["name"] == "topic").unwrap();
        assert_eq!(topic["required"], true, "topic is a required parameter");
        assert_eq!(topic["schema"]["pattern"], TOPIC_NAME_PATTERN);
        let max = parameters.iter().find(|p| p["name"] == "max").unwrap();
        assert_eq!(max["schema"]["maximum"], limits.consume_records_max);
        // Every parameter of these handlers is read from the query string.
        for (method, path) in [
            ("get", "/consume"),
            ("get", "/consume/stream"),
            ("post", "/produce"),
        ] {
            for parameter in document["paths"][path][method]["parameters"]
                .as_array()
                .unwrap()
            {
                assert_eq!(parameter["in"], "query", "{method} {path}: {parameter}");
            }
        }
        let batch = &document["components"]["schemas"]["ProduceBatch"];
        assert_eq!(batch["properties"]["messages"]["minItems"], 1);
        let create = &document["components"]["schemas"]["CreateTopicRequest"];
        assert_eq!(create["properties"]["partitions"]["minimum"], 1);
        assert_eq!(
            create["properties"]["partitions"]["maximum"],
            TOPIC_PARTITIONS_MAX
        );
    }

    /// The topic-name pattern accepts exactly the names `validate_topic_name` accepts.
    #[test]
    fn topic_name_pattern_agrees_with_the_validator() {
        let long = "a".repeat(TOPIC_NAME_CHARS_MAX);
        let too_long = "a".repeat(TOPIC_NAME_CHARS_MAX + 1);
        let names = [
            "",
            ".",
            "..",
            "...",
            ".a",
            "..a",
            "a.",
            "a..",
            "_",
            "-",
            "a b",
            "é",
            "orders",
            "Orders-2.v_1",
            "a/b",
            long.as_str(),
            too_long.as_str(),
            ".-",
            "..-",
            "0",
        ];
        let pattern = regex::Regex::new(TOPIC_NAME_PATTERN).expect("a valid pattern");
        for name in names {
            let by_schema = pattern.is_match(name)
                && (1..=TOPIC_NAME_CHARS_MAX).contains(&name.chars().count());
            assert_eq!(by_schema, validate_topic_name(name).is_ok(), "{name:?}");
        }
    }
}
