//! The seam between protocol code and the network: turmoil's simulated TCP in the
//! simulation, tokio's TCP for `serve` and `certify`.

use std::future::Future;
use std::pin::Pin;

use tokio::io::{AsyncRead, AsyncWrite};

/// A boxed connect future.
pub type ConnectFuture<S> = Pin<Box<dyn Future<Output = std::io::Result<S>> + Send>>;

/// Opens streams to `host:port` addresses.
pub trait Transport: Clone + Send + Sync + 'static {
    /// The stream type this transport yields.
    type Stream: AsyncRead + AsyncWrite + Unpin + Send + 'static;

    /// Connects to `address` (`host:port`).
    fn connect(&self, address: &str) -> ConnectFuture<Self::Stream>;
}

/// Real TCP through tokio.
#[derive(Clone, Copy, Debug, Default)]
pub struct TokioTransport;

impl Transport for TokioTransport {
    type Stream = tokio::net::TcpStream;

    fn connect(&self, address: &str) -> ConnectFuture<Self::Stream> {
        let address = address.to_string();
        Box::pin(async move {
            let stream = tokio::net::TcpStream::connect(address).await?;
            stream.set_nodelay(true)?;
            Ok(stream)
        })
    }
}
