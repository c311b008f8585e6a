//! Several produce requests to one partition in flight on one connection, as an
//! idempotent producer with `max.in.flight.requests.per.connection` up to 5 sends them
//! (KIP-98; KAFKA-5494 made ordering hold with up to 5 in flight).

use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{ProduceRequest, TopicName};
use kafka_protocol::records::Compression;

use faultline_wire::records::{encode_batch, BatchRecord};
use faultline_wire::{ResponseError, Transport};

use super::{definitely_not_written, KafkaClient, ProduceOutcome, PRODUCE_VERSION};

/// One idempotent batch: its records and its `(producer_id, producer_epoch, first sequence)`.
pub type SequencedBatch<'a> = (&'a [BatchRecord], (i64, i16, i32));

impl<T: Transport> KafkaClient<T> {
    /// Sends every batch to `partition`'s leader back to back on one connection and
    /// returns each one's outcome, in order. A batch not answered (the connection failed
    /// first) is indeterminate.
    pub async fn produce_pipelined(
        &mut self,
        topic: &str,
        partition: i32,
        batches: &[SequencedBatch<'_>],
        compression: Compression,
        acks: i16,
    ) -> Vec<ProduceOutcome> {
        let (address, _) = match self.leader(topic, partition).await {
            Ok(found) => found,
            Err(e) => {
                let text = format!("no leader: {e}");
                return batches
                    .iter()
                    .map(|_| ProduceOutcome::Fail(text.clone()))
                    .collect();
            }
        };
        let requests: Vec<ProduceRequest> = batches
            .iter()
            .map(|(records, producer)| {
                ProduceRequest::default()
                    .with_acks(acks)
                    .with_timeout_ms(self.request_timeout.as_millis() as i32)
                    .with_topic_data(vec![TopicProduceData::default()
                        .with_name(TopicName(topic.to_string().into()))
                        .with_partition_data(vec![PartitionProduceData::default()
                            .with_index(partition)
                            .with_records(Some(encode_batch(
                                records,
                                Some(*producer),
                                compression,
                            )))])])
            })
            .collect();
        let timeout = self.request_timeout * 2;
        let connection = match self.connection(&address).await {
            Ok(connection) => connection,
            Err(e) => {
                self.forget_leader(topic, partition);
                let text = format!("connect: {e}");
                return batches
                    .iter()
                    .map(|_| ProduceOutcome::Fail(text.clone()))
                    .collect();
            }
        };
        let answers = connection
            .send_all(&requests, PRODUCE_VERSION, timeout)
            .await;
        let mut outcomes = Vec::with_capacity(answers.len());
        let mut forget = false;
        for answer in answers {
            let outcome = match answer {
                Err(e) => {
                    forget = true;
                    self.drop_connection(&address);
                    ProduceOutcome::Info(e.to_string())
                }
                Ok(response) => {
                    let code = response
                        .responses
                        .first()
                        .and_then(|t| t.partition_responses.first())
                        .map(|p| (p.error_code, p.base_offset));
                    match code {
                        None => ProduceOutcome::Info("empty produce response".into()),
                        Some((error, offset)) => match ResponseError::try_from_code(error) {
                            None => ProduceOutcome::Ok(offset),
                            Some(error) => {
                                forget = true;
                                if definitely_not_written(error) {
                                    ProduceOutcome::Fail(error.to_string())
                                } else {
                                    ProduceOutcome::Info(error.to_string())
                                }
                            }
                        },
                    }
                }
            };
            outcomes.push(outcome);
        }
        if forget {
            self.forget_leader(topic, partition);
        }
        outcomes
    }
}
