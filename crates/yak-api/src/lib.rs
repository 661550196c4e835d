//! The types both sides of YAK's HTTP API share: requests, responses and the stable error codes.
//!
//! No I/O lives here, so the broker, the client, the CLI and the console agree on one definition of
//! every JSON body. Module map:
//! - [`error`]: the error body and the stable, snake_case error codes.
//! - [`produce`]: `POST /produce` requests and results.
//! - [`consume`]: `GET /consume` queries and responses.
//! - [`admin`]: topics, cluster, health, leader metadata, groups.
//! - [`events`]: the console's live event stream.
//! - [`security`]: logins, users, bearer tokens and ACLs.
//! - [`integer`]: integer fields that accept integral numbers such as `3.0`.

pub mod admin;
pub mod consume;
pub mod error;
pub mod events;
pub mod integer;
pub mod produce;
pub mod security;

pub use admin::*;
pub use consume::*;
pub use error::{ApiError, ErrorBody, ErrorCode};
pub use events::*;
pub use produce::*;
pub use security::*;
