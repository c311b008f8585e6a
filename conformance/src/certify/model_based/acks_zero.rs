//! Produce with acks=0 has no response (protocol guide, Produce: "If it is 0 the server
//! will not send any response"), so the driver sends a second request right behind it on
//! the same connection and waits for that one: a broker processes one connection's
//! requests in order (protocol guide, "Network"), so once the barrier is answered the
//! batch has been processed. Both go on a fresh connection and both are evidence.

use std::fmt::Debug;
use std::time::Duration;

use kafka_protocol::protocol::Request;

use faultline_wire::codec::{decode_response, encode_request};
use faultline_wire::frame::{read_frame, write_frame};
use faultline_wire::Transport;

use crate::certify::model::Exchange;
use crate::certify::suite::probe::{api_label, shorten, Probe};

/// Correlation ids of the pair (any will do on a fresh connection).
const CORRELATION_IDS: (i32, i32) = (1, 2);

/// Sends `unanswered` then `barrier` on a new connection to `address`, and waits for the
/// barrier's answer. Both exchanges are added to `probe`'s.
pub async fn send_then_barrier<T: Transport, A, B>(
    transport: &T,
    probe: &mut Probe<T>,
    address: &str,
    unanswered: (&A, i16),
    barrier: (&B, i16),
) -> Result<B::Response, String>
where
    A: Request + Debug,
    B: Request + Debug,
    B::Response: Debug,
{
    let timeout: Duration = probe.timeout;
    let at_ms = probe.exchanges.last().map_or(0, |e| e.at_ms);
    let attempt = async {
        let frame_a = encode_request(
            unanswered.0,
            unanswered.1,
            CORRELATION_IDS.0,
            "faultline-model",
        )
        .map_err(|e| format!("not sent (could not encode): {e}"))?;
        let frame_b = encode_request(barrier.0, barrier.1, CORRELATION_IDS.1, "faultline-model")
            .map_err(|e| format!("not sent (could not encode): {e}"))?;
        let mut stream = transport
            .connect(address)
            .await
            .map_err(|e| format!("could not connect: {e}"))?;
        write_frame(&mut stream, &frame_a)
            .await
            .map_err(|e| format!("connection error: {e}"))?;
        write_frame(&mut stream, &frame_b)
            .await
            .map_err(|e| format!("connection error: {e}"))?;
        match read_frame(&mut stream).await {
            Ok(Some(body)) => {
                decode_response::<B>(body, barrier.1, CORRELATION_IDS.1).map_err(|e| {
                    format!("undecodable response (or an answer to the acks=0 request): {e}")
                })
            }
            Ok(None) => Err("connection closed".to_string()),
            Err(e) => Err(format!("connection error: {e}")),
        }
    };
    let outcome = tokio::time::timeout(timeout, attempt)
        .await
        .unwrap_or_else(|_| Err(format!("timeout after {timeout:?}")));
    let broker = address.to_string();
    probe.exchanges.push(Exchange {
        broker: broker.clone(),
        api: api_label(A::KEY),
        version: unanswered.1,
        request: shorten(format!("{:?}", unanswered.0)),
        response: "(none: acks=0)".to_string(),
        at_ms,
    });
    probe.exchanges.push(Exchange {
        broker,
        api: api_label(B::KEY),
        version: barrier.1,
        request: shorten(format!(
            "{:?} (barrier behind the acks=0 Produce, same connection)",
            barrier.0
        )),
        response: match &outcome {
            Ok(response) => shorten(format!("{response:?}")),
            Err(what) => what.clone(),
        },
        at_ms,
    });
    outcome
}
