//! The HTTP transport: hyper's pooled HTTP/1.1 client over TCP, or over TLS (tokio-rustls with
//! the ring provider, as the node's own TLS) for `https://` URLs.
//!
//! The client does its TLS itself rather than through an HTTP library's TLS feature: those pick
//! a crypto provider for the whole build, and every other HTTP client in the workspace would
//! then need one installed at start-up.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use hyper::rt::{Read, ReadBufCursor, Write};
use hyper::Uri;
use hyper_util::client::legacy::connect::{Connected, Connection};
use hyper_util::rt::TokioIo;
use rustls::ClientConfig;
use rustls_pki_types::ServerName;
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

/// Where Debian/Ubuntu and Red Hat-like systems keep the CAs they trust; used for `https://`
/// nodes when no CA file is given.
pub const SYSTEM_CA_FILES: &[&str] = &[
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
];

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The TLS configuration for `https://` nodes: trusts `ca_file`, else the system's CA bundle.
pub fn tls_config(ca_file: Option<&Path>) -> Result<Arc<ClientConfig>, crate::ClientError> {
    let path: PathBuf = match ca_file {
        Some(path) => path.to_path_buf(),
        None => SYSTEM_CA_FILES
            .iter()
            .map(PathBuf::from)
            .find(|path| path.exists())
            .ok_or(crate::ClientError::NoCaFile)?,
    };
    let shared = yak_auth::tls::client_config(&path, None)?;
    let mut config = ClientConfig::clone(&shared);
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// A connection to a node, in clear or in TLS.
pub enum Stream {
    Plain(TokioIo<TcpStream>),
    Tls(Box<TokioIo<TlsStream<TcpStream>>>),
}

impl Connection for Stream {
    fn connected(&self) -> Connected {
        Connected::new()
    }
}

impl Read for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: ReadBufCursor<'_>,
    ) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(stream) => Pin::new(stream).poll_read(cx, buf),
            Stream::Tls(stream) => Pin::new(stream.as_mut()).poll_read(cx, buf),
        }
    }
}

impl Write for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(stream) => Pin::new(stream).poll_write(cx, buf),
            Stream::Tls(stream) => Pin::new(stream.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(stream) => Pin::new(stream).poll_flush(cx),
            Stream::Tls(stream) => Pin::new(stream.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(stream) => Pin::new(stream).poll_shutdown(cx),
            Stream::Tls(stream) => Pin::new(stream.as_mut()).poll_shutdown(cx),
        }
    }
}

/// Opens connections for hyper's pool: TCP with a deadline, then TLS for `https://`.
#[derive(Clone)]
pub struct Connector {
    /// None when no broker URL is `https://`.
    pub tls: Option<Arc<ClientConfig>>,
    pub connect_timeout: Duration,
}

impl tower_service::Service<Uri> for Connector {
    type Response = Stream;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Stream, BoxError>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let (tls, connect_timeout) = (self.tls.clone(), self.connect_timeout);
        Box::pin(async move {
            let https = uri.scheme_str() == Some("https");
            let host = uri
                .host()
                .ok_or("the URL has no host")?
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_string();
            let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
            let tcp =
                tokio::time::timeout(connect_timeout, TcpStream::connect((host.as_str(), port)))
                    .await
                    .map_err(|_| format!("no connection within {connect_timeout:?}"))??;
            // Requests are small and answered at once: do not wait to fill a segment.
            tcp.set_nodelay(true)?;
            if !https {
                return Ok(Stream::Plain(TokioIo::new(tcp)));
            }
            let config = tls.ok_or("no TLS configuration for an https:// URL")?;
            let name = ServerName::try_from(host)?;
            let stream = TlsConnector::from(config).connect(name, tcp).await?;
            Ok(Stream::Tls(Box::new(TokioIo::new(stream))))
        })
    }
}
