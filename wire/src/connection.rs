//! A client connection: one request in flight at a time, every request bounded by a
//! timeout. turmoil has no TCP retransmission, so a stream cut by a partition stays stuck
//! forever; callers drop the connection after any error, as real Kafka clients do.

use std::time::Duration;

use kafka_protocol::protocol::Request;
use tokio::io::{AsyncRead, AsyncWrite};

use crate::codec::{decode_response, encode_request_frame, DecodeError};
use crate::frame::{read_frame, write_framed};
use crate::transport::Transport;

/// Why a request got no usable response.
#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    /// No response within the timeout: the request may or may not have taken effect.
    #[error("request timed out after {0:?}")]
    Timeout(Duration),
    /// The connection failed or closed; the request may or may not have taken effect.
    #[error("connection error: {0}")]
    Io(#[from] std::io::Error),
    /// The response did not decode.
    #[error("bad response: {0}")]
    Decode(#[from] DecodeError),
    /// The request could not be encoded (a bug on our side).
    #[error("could not encode request: {0}")]
    Encode(String),
}

impl RequestError {
    /// Whether the request definitely never reached the broker.
    pub fn definitely_not_sent(&self) -> bool {
        matches!(self, RequestError::Encode(_))
    }
}

/// A connection to one broker.
pub struct Connection<S> {
    stream: S,
    next_correlation_id: i32,
    client_id: String,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Connection<S> {
    /// Wraps an open stream.
    pub fn new(stream: S, client_id: impl Into<String>) -> Self {
        Connection {
            stream,
            next_correlation_id: 1,
            client_id: client_id.into(),
        }
    }

    /// Sends `request` at `version` and waits at most `timeout` for its response.
    pub async fn send<R: Request>(
        &mut self,
        request: &R,
        version: i16,
        timeout: Duration,
    ) -> Result<R::Response, RequestError> {
        let correlation_id = self.next_correlation_id;
        self.next_correlation_id = self.next_correlation_id.wrapping_add(1);
        let frame = encode_request_frame(request, version, correlation_id, &self.client_id)
            .map_err(|e| RequestError::Encode(e.to_string()))?;
        let exchange = async {
            write_framed(&mut self.stream, &frame).await?;
            match read_frame(&mut self.stream).await? {
                Some(body) => Ok(decode_response::<R>(body, version, correlation_id)?),
                None => Err(RequestError::Io(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "connection closed before the response",
                ))),
            }
        };
        match crate::time::timeout(timeout, exchange).await {
            Ok(result) => result,
            Err(_) => Err(RequestError::Timeout(timeout)),
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Connection<S> {
    /// Sends `first` and `second` back to back, without waiting for the first answer,
    /// then reads both answers. A broker processes one connection's requests in the order
    /// sent and answers in that order (Kafka protocol guide, "Network": "the server
    /// guarantees that on a single TCP connection, requests will be processed in the order
    /// they are sent"), so `second` sees the broker's state after `first` completed.
    pub async fn send_pipelined<A: Request, B: Request>(
        &mut self,
        first: (&A, i16),
        second: (&B, i16),
        timeout: Duration,
    ) -> (
        Result<A::Response, RequestError>,
        Result<B::Response, RequestError>,
    ) {
        let (id_a, id_b) = (
            self.next_correlation_id,
            self.next_correlation_id.wrapping_add(1),
        );
        self.next_correlation_id = self.next_correlation_id.wrapping_add(2);
        let frames = (
            encode_request_frame(first.0, first.1, id_a, &self.client_id),
            encode_request_frame(second.0, second.1, id_b, &self.client_id),
        );
        let (frame_a, frame_b) = match frames {
            (Ok(a), Ok(b)) => (a, b),
            (a, b) => {
                let error = |e: Result<_, _>| {
                    RequestError::Encode(e.err().map(|e| format!("{e}")).unwrap_or_default())
                };
                return (Err(error(a)), Err(error(b)));
            }
        };
        let stream = &mut self.stream;
        let exchange = async {
            write_framed(stream, &frame_a).await?;
            write_framed(stream, &frame_b).await?;
            let mut read = async || match read_frame(stream).await? {
                Some(body) => Ok(body),
                None => Err(RequestError::Io(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "connection closed before the response",
                ))),
            };
            let a = decode_response::<A>(read().await?, first.1, id_a)?;
            Ok::<_, RequestError>((a, read().await))
        };
        match crate::time::timeout(timeout, exchange).await {
            Ok(Ok((a, Ok(body)))) => (
                Ok(a),
                decode_response::<B>(body, second.1, id_b).map_err(Into::into),
            ),
            Ok(Ok((a, Err(e)))) => (Ok(a), Err(e)),
            Ok(Err(e)) => {
                let text = e.to_string();
                (
                    Err(e),
                    Err(RequestError::Io(std::io::Error::other(format!(
                        "not answered: {text}"
                    )))),
                )
            }
            Err(_) => (
                Err(RequestError::Timeout(timeout)),
                Err(RequestError::Timeout(timeout)),
            ),
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Connection<S> {
    /// Sends every request back to back, without waiting for answers, then reads the
    /// answers in order, each within `timeout`: a producer's `max.in.flight.requests.per.connection`
    /// (KIP-98 allows up to 5 with idempotence). The broker answers one connection's
    /// requests in the order sent (Kafka protocol guide, "Network"). After the first
    /// failure every later request is reported unanswered; the caller drops the connection.
    pub async fn send_all<R: Request>(
        &mut self,
        requests: &[R],
        version: i16,
        timeout: Duration,
    ) -> Vec<Result<R::Response, RequestError>> {
        let mut frames = Vec::with_capacity(requests.len());
        for request in requests {
            let correlation_id = self.next_correlation_id;
            self.next_correlation_id = self.next_correlation_id.wrapping_add(1);
            match encode_request_frame(request, version, correlation_id, &self.client_id) {
                Ok(frame) => frames.push((correlation_id, frame)),
                Err(e) => {
                    let text = e.to_string();
                    return requests
                        .iter()
                        .map(|_| Err(RequestError::Encode(text.clone())))
                        .collect();
                }
            }
        }
        let mut answers = Vec::with_capacity(requests.len());
        let written = crate::time::timeout(timeout, async {
            for (_, frame) in &frames {
                write_framed(&mut self.stream, frame).await?;
            }
            Ok::<_, RequestError>(())
        })
        .await;
        let mut failure = match written {
            Ok(Ok(())) => None,
            Ok(Err(e)) => Some(e.to_string()),
            Err(_) => Some(RequestError::Timeout(timeout).to_string()),
        };
        for (correlation_id, _) in &frames {
            if let Some(text) = &failure {
                answers.push(Err(RequestError::Io(std::io::Error::other(format!(
                    "not answered: {text}"
                )))));
                continue;
            }
            let read = crate::time::timeout(timeout, read_frame(&mut self.stream)).await;
            let answer = match read {
                Ok(Ok(Some(body))) => {
                    decode_response::<R>(body, version, *correlation_id).map_err(RequestError::from)
                }
                Ok(Ok(None)) => Err(RequestError::Io(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "connection closed before the response",
                ))),
                Ok(Err(e)) => Err(RequestError::from(e)),
                Err(_) => Err(RequestError::Timeout(timeout)),
            };
            if let Err(e) = &answer {
                failure = Some(e.to_string());
            }
            answers.push(answer);
        }
        answers
    }
}

/// Connects within `timeout`.
pub async fn connect<T: Transport>(
    transport: &T,
    address: &str,
    client_id: &str,
    timeout: Duration,
) -> Result<Connection<T::Stream>, RequestError> {
    match crate::time::timeout(timeout, transport.connect(address)).await {
        Ok(Ok(stream)) => Ok(Connection::new(stream, client_id)),
        Ok(Err(e)) => Err(RequestError::Io(e)),
        Err(_) => Err(RequestError::Timeout(timeout)),
    }
}
