//! The read-side ops of a case: ListOffsets (earliest, latest, by timestamp, max
//! timestamp) and Metadata, each checked against the partition models.

use std::time::Duration;

use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::{BrokerId, ListOffsetsRequest};

use faultline_wire::{ResponseError, Transport};

use super::driver::Driver;
use super::ops::OffsetQuery;
use super::rules::{Violation, ANSWERED, LIST_OFFSETS, METADATA};
use crate::certify::suite::identify::metadata;
use crate::certify::suite::partition_io::topic_name;

impl<T: Transport> Driver<'_, T> {
    pub(super) async fn list_offsets(
        &mut self,
        client: u8,
        slot: usize,
        query: OffsetQuery,
    ) -> Result<(), Violation> {
        let model = &self.model.partitions[slot];
        let placed = |k: u8| {
            let placed: Vec<_> = model
                .batches
                .iter()
                .filter(|b| b.base_offset.is_some())
                .collect();
            (!placed.is_empty()).then(|| placed[k as usize % placed.len()].timestamp_ms)
        };
        let version = self.setup.versions.list_offsets;
        let timestamp = match query {
            OffsetQuery::Earliest => -2,
            OffsetQuery::Latest => -1,
            // KIP-734: ListOffsets v7 and later.
            OffsetQuery::MaxTimestamp if version >= 7 => -3,
            OffsetQuery::MaxTimestamp => return Ok(()),
            OffsetQuery::TimestampOfBatch(k) => placed(k).unwrap_or(self.setup.timestamp_base_ms),
            OffsetQuery::JustAfterBatch(k) => placed(k).unwrap_or(self.setup.timestamp_base_ms) + 1,
            OffsetQuery::AfterEverything => self.setup.timestamp_base_ms + 1_000_000,
        };
        let request = ListOffsetsRequest::default()
            .with_replica_id(BrokerId(-1))
            .with_topics(vec![ListOffsetsTopic::default()
                .with_name(topic_name(&self.setup.topic))
                .with_partitions(vec![ListOffsetsPartition::default()
                    .with_partition_index(self.setup.partitions[slot])
                    .with_timestamp(timestamp)])]);
        let leader = self.setup.leaders[slot].clone();
        let mut probe = self.client(client);
        let answer = probe.send(&leader, &request, version, Duration::ZERO).await;
        self.give_back(client, probe);
        let response =
            answer.map_err(|e| ANSWERED.violated(format!("ListOffsets got no answer: {e}")))?;
        let id = self.setup.partitions[slot];
        let (error_code, offset) = response
            .topics
            .iter()
            .flat_map(|t| t.partitions.iter())
            .find(|p| p.partition_index == id)
            .map(|p| (p.error_code, p.offset))
            .ok_or_else(|| {
                ANSWERED.violated(format!(
                    "the ListOffsets response has no answer for partition {id}"
                ))
            })?;
        let model = &mut self.model.partitions[slot];
        match ResponseError::try_from_code(error_code) {
            None => {}
            Some(e) if e.is_retriable() => return Ok(()),
            // Timestamp lookups a broker declines are recorded as not applicable (the
            // brief's latitude for brokers still adding them), never as a pass.
            Some(
                e @ (ResponseError::InvalidRequest
                | ResponseError::UnsupportedVersion
                | ResponseError::UnsupportedForMessageFormat),
            ) if timestamp >= 0 || timestamp == -3 => {
                let what = if timestamp == -3 {
                    "max-timestamp lookups"
                } else {
                    "timestamp lookups"
                };
                self.model
                    .unsupported
                    .insert(format!("ListOffsets {what} (answered {e:?})"));
                return Ok(());
            }
            Some(e) => {
                return Err(LIST_OFFSETS.violated(format!(
                    "ListOffsets with timestamp {timestamp} answered {e:?}"
                )))
            }
        }
        match timestamp {
            -2 => model.check_earliest(offset),
            -1 => model.check_latest(offset),
            -3 => model.check_max_timestamp(offset),
            t => model.check_timestamp(t, offset),
        }
    }

    pub(super) async fn metadata(&mut self, client: u8) -> Result<(), Violation> {
        let address = self.target.bootstrap[client as usize % self.target.bootstrap.len()].clone();
        let mut probe = self.client(client);
        let view = metadata(
            &mut probe,
            &address,
            &self.target.advertised,
            Some(&self.setup.topic),
            false,
        )
        .await;
        self.give_back(client, probe);
        let view = view.ok_or_else(|| ANSWERED.violated("Metadata got no answer"))?;
        let Some((error_code, partitions)) = view.topics.get(&self.setup.topic) else {
            return Err(
                METADATA.violated(format!("Metadata does not list topic {}", self.setup.topic))
            );
        };
        if *error_code != 0 {
            return Err(METADATA.violated(format!(
                "Metadata answered error code {error_code} for the topic"
            )));
        }
        for id in &self.setup.partitions {
            match partitions.get(id) {
                Some((0, leader)) if view.brokers.contains_key(leader) => {}
                Some((code, _)) if ResponseError::try_from_code(*code).is_some_and(|e| e.is_retriable()) => {}
                other => {
                    return Err(METADATA.violated(format!(
                        "partition {id}: Metadata answered {other:?} (error, leader), brokers listed {:?}",
                        view.brokers.keys().collect::<Vec<_>>()
                    )))
                }
            }
        }
        Ok(())
    }

    pub(super) fn metadata_request(&self) -> kafka_protocol::messages::MetadataRequest {
        use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
        kafka_protocol::messages::MetadataRequest::default()
            .with_topics(Some(vec![
                MetadataRequestTopic::default().with_name(Some(topic_name(&self.setup.topic)))
            ]))
            .with_allow_auto_topic_creation(false)
    }
}
