//! The web console, embedded in the binary: `GET /` and `GET /leader` serve `web/index.html`,
//! `GET /ui/{path}` every other file of `web/`. No build step; the files are served as they are.

use axum::extract::Path;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use rust_embed::RustEmbed;
use yak_api::ErrorCode;

use super::HttpError;

#[derive(RustEmbed)]
#[folder = "../../web/"]
pub struct Assets;

pub fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/", get(index))
        .route("/leader", get(index))
        .route("/ui/{*path}", get(asset))
}

fn content_type(path: &str) -> &'static str {
    match path.rsplit('.').next() {
        Some("html") => "text/html; charset=utf-8",
        Some("js") | Some("mjs") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("ico") => "image/x-icon",
        Some("json") => "application/json",
        _ => "application/octet-stream",
    }
}

fn serve(path: &str) -> Result<Response, HttpError> {
    let file = Assets::get(path)
        .ok_or_else(|| HttpError::new(ErrorCode::NotFound, format!("no console file {path:?}")))?;
    Ok((
        [
            (header::CONTENT_TYPE, content_type(path)),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        file.data.into_owned(),
    )
        .into_response())
}

pub async fn index() -> Result<Response, HttpError> {
    serve("index.html")
}

pub async fn asset(Path(path): Path<String>) -> Result<Response, HttpError> {
    serve(&path)
}
