//! The OpenAPI document at `GET /openapi.json`, generated from the handlers' annotations and the
//! `yak-api` types, so it cannot drift from the code.

use axum::routing::get;
use axum::{Json, Router};
use utoipa::OpenApi;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "YAK HTTP API",
        description = "Produce, consume and administer a YAK broker."
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
        super::status::groups,
        super::events::events,
        super::events::activity,
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
        yak_api::ConsumedRecord,
        yak_api::ConsumeResponse,
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
        yak_api::StatsEvent,
        yak_api::ActivityEvent,
        yak_api::ActivityKind,
        yak_api::ActivityList,
    ))
)]
pub struct ApiDoc;

pub fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new().route("/openapi.json", get(|| async { Json(ApiDoc::openapi()) }))
}
