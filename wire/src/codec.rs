//! Request and response encoding on top of the `kafka-protocol` crate's message types.
//!
//! Header versions follow the Kafka protocol guide ("Headers"): flexible API versions use
//! request header v2 / response header v1, and ApiVersions always answers with header v0
//! (KIP-511) so that an old client can read the error.

use bytes::{Buf, Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, RequestHeader, RequestKind, ResponseHeader, ResponseKind};
use kafka_protocol::protocol::{Decodable, Encodable, Request};

/// Why a request frame could not be decoded. The broker answers with a protocol error or
/// closes the connection; it never panics.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// The frame is shorter than a request header.
    #[error("frame of {0} bytes is too short for a request header")]
    TooShort(usize),
    /// The API key is not one Kafka defines.
    #[error("unknown API key {0}")]
    UnknownApiKey(i16),
    /// The version is outside what the crate (and so we) can decode.
    #[error("unsupported version {version} of API key {api_key}")]
    UnsupportedVersion {
        /// The API key.
        api_key: i16,
        /// The requested version.
        version: i16,
    },
    /// The header or body did not parse.
    #[error("malformed {what}: {message}")]
    Malformed {
        /// Which part.
        what: &'static str,
        /// The decoder's message.
        message: String,
    },
}

/// A decoded request with the parts of its header the response needs.
#[derive(Debug)]
pub struct DecodedRequest {
    /// The request header.
    pub header: RequestHeader,
    /// The API.
    pub api_key: ApiKey,
    /// The body.
    pub body: RequestKind,
}

/// Reads the API key, version and correlation id without decoding anything else, so a
/// broker can answer an undecodable request with an error addressed to it.
pub fn peek_header(frame: &[u8]) -> Option<(i16, i16, i32)> {
    if frame.len() < 8 {
        return None;
    }
    let mut buf = frame;
    Some((buf.get_i16(), buf.get_i16(), buf.get_i32()))
}

/// Decodes a request frame (without its length prefix).
pub fn decode_request(frame: Bytes) -> Result<DecodedRequest, DecodeError> {
    let (api_key_raw, version, _) =
        peek_header(&frame).ok_or(DecodeError::TooShort(frame.len()))?;
    let api_key =
        ApiKey::try_from(api_key_raw).map_err(|_| DecodeError::UnknownApiKey(api_key_raw))?;
    let range = api_key.valid_versions();
    if version < range.min || version > range.max {
        return Err(DecodeError::UnsupportedVersion {
            api_key: api_key_raw,
            version,
        });
    }
    let mut buf = frame;
    let header =
        RequestHeader::decode(&mut buf, api_key.request_header_version(version)).map_err(|e| {
            DecodeError::Malformed {
                what: "request header",
                message: e.to_string(),
            }
        })?;
    let body =
        RequestKind::decode(api_key, &mut buf, version).map_err(|e| DecodeError::Malformed {
            what: "request body",
            message: e.to_string(),
        })?;
    Ok(DecodedRequest {
        header,
        api_key,
        body,
    })
}

/// Encodes a response frame body for the request it answers.
pub fn encode_response(
    api_key: ApiKey,
    version: i16,
    correlation_id: i32,
    response: &ResponseKind,
) -> anyhow::Result<Bytes> {
    Ok(encode_response_frame(api_key, version, correlation_id, response)?.slice(4..))
}

/// `encode_response` with its 4-byte length prefix in front, in one buffer: what
/// `frame::write_framed` sends without copying it again.
pub fn encode_response_frame(
    api_key: ApiKey,
    version: i16,
    correlation_id: i32,
    response: &ResponseKind,
) -> anyhow::Result<Bytes> {
    let header_version = if api_key == ApiKey::ApiVersions {
        0
    } else {
        api_key.response_header_version(version)
    };
    framed(response_capacity(response), |out| {
        ResponseHeader::default()
            .with_correlation_id(correlation_id)
            .encode(out, header_version)?;
        response.encode(out, version)
    })
}

/// Encodes a typed request with its header.
pub fn encode_request<R: Request>(
    request: &R,
    version: i16,
    correlation_id: i32,
    client_id: &str,
) -> anyhow::Result<Bytes> {
    Ok(encode_request_frame(request, version, correlation_id, client_id)?.slice(4..))
}

/// `encode_request` with its 4-byte length prefix in front, in one buffer sized from the
/// request's own `compute_size`.
pub fn encode_request_frame<R: Request>(
    request: &R,
    version: i16,
    correlation_id: i32,
    client_id: &str,
) -> anyhow::Result<Bytes> {
    let api_key = ApiKey::try_from(R::KEY).map_err(|_| anyhow::anyhow!("unknown api key"))?;
    let header = RequestHeader::default()
        .with_request_api_key(R::KEY)
        .with_request_api_version(version)
        .with_correlation_id(correlation_id)
        .with_client_id(Some(client_id.to_string().into()));
    let header_version = api_key.request_header_version(version);
    let size = header.compute_size(header_version)? + request.compute_size(version)?;
    framed(size, |out| {
        header.encode(out, header_version)?;
        request.encode(out, version)
    })
}

/// Answers start this large; most fit, the rest grow.
const RESPONSE_CAPACITY: usize = 512;

/// The buffer an answer starts with: a fetch's is as large as its records besides, so it
/// is allocated once instead of doubling up to their size and copying each time.
fn response_capacity(response: &ResponseKind) -> usize {
    let ResponseKind::Fetch(fetch) = response else {
        return RESPONSE_CAPACITY;
    };
    let records: usize = fetch
        .responses
        .iter()
        .flat_map(|topic| &topic.partitions)
        .map(|partition| partition.records.as_ref().map_or(0, |r| r.len()))
        .sum();
    RESPONSE_CAPACITY + records
}

/// What `write` puts in one buffer after a 4-byte big-endian length of it.
fn framed(
    capacity: usize,
    write: impl FnOnce(&mut BytesMut) -> anyhow::Result<()>,
) -> anyhow::Result<Bytes> {
    let mut out = BytesMut::with_capacity(4 + capacity);
    out.extend_from_slice(&[0; 4]);
    write(&mut out)?;
    let length = i32::try_from(out.len() - 4)?;
    out[..4].copy_from_slice(&length.to_be_bytes());
    Ok(out.freeze())
}

/// Decodes a typed response, checking its correlation id.
pub fn decode_response<R: Request>(
    frame: Bytes,
    version: i16,
    expected_correlation_id: i32,
) -> Result<R::Response, DecodeError> {
    let api_key = ApiKey::try_from(R::KEY).map_err(|_| DecodeError::UnknownApiKey(R::KEY))?;
    let header_version = if api_key == ApiKey::ApiVersions {
        0
    } else {
        api_key.response_header_version(version)
    };
    let mut buf = frame;
    let header =
        ResponseHeader::decode(&mut buf, header_version).map_err(|e| DecodeError::Malformed {
            what: "response header",
            message: e.to_string(),
        })?;
    if header.correlation_id != expected_correlation_id {
        return Err(DecodeError::Malformed {
            what: "response header",
            message: format!(
                "correlation id {} does not match request {}",
                header.correlation_id, expected_correlation_id
            ),
        });
    }
    R::Response::decode(&mut buf, version).map_err(|e| DecodeError::Malformed {
        what: "response body",
        message: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use kafka_protocol::messages::{ApiVersionsResponse, MetadataRequest};

    use super::*;

    /// A framed encoding is the length of the body, then the body `encode_*` returns, and
    /// the body decodes back to what was sent.
    #[test]
    fn framed_encodings_are_the_length_then_the_body() {
        let request = MetadataRequest::default();
        let framed = encode_request_frame(&request, 12, 7, "client").unwrap();
        let body = encode_request(&request, 12, 7, "client").unwrap();
        assert_eq!(&framed[..4], &(body.len() as i32).to_be_bytes());
        assert_eq!(&framed[4..], &body[..]);
        let decoded = decode_request(body).unwrap();
        assert_eq!(decoded.header.correlation_id, 7);
        assert_eq!(decoded.body, RequestKind::Metadata(request));

        let response = ResponseKind::ApiVersions(ApiVersionsResponse::default());
        let framed = encode_response_frame(ApiKey::ApiVersions, 3, 9, &response).unwrap();
        let body = encode_response(ApiKey::ApiVersions, 3, 9, &response).unwrap();
        assert_eq!(&framed[..4], &(body.len() as i32).to_be_bytes());
        assert_eq!(&framed[4..], &body[..]);
    }
}
