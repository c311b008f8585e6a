//! The idempotent-producer ops of a case: InitProducerId (new ids and KIP-360 epoch
//! bumps) and idempotent Produce with the sequence each op chooses, checked against the
//! [`ProducerModel`](super::producer_model::ProducerModel)s and the partition models.

use std::time::Duration;

use kafka_protocol::messages::{InitProducerIdRequest, ProducerId};

use faultline_wire::{ResponseError, Transport};

use super::driver::Driver;
use super::ops::{Acks, SequenceChoice};
use super::producer_model::{ProducerModel, Resolved};
use super::rules::{Violation, ANSWERED, PRODUCER_ID};

impl<T: Transport> Driver<'_, T> {
    pub(super) async fn init_producer_id(
        &mut self,
        producer: u8,
        bump: bool,
    ) -> Result<(), Violation> {
        let Some(version) = self.setup.versions.init_producer_id else {
            return Ok(());
        };
        let state = self
            .model
            .producers
            .get(&producer)
            .cloned()
            .unwrap_or_default();
        // KIP-360: an idempotent producer may ask for its next epoch from v3.
        let (id, epoch, bump) = match state.identity {
            Some((id, epoch)) if bump && version >= 3 => (id, epoch, true),
            _ => (-1, -1, false),
        };
        let request = InitProducerIdRequest::default()
            .with_transactional_id(None)
            .with_transaction_timeout_ms(60_000)
            .with_producer_id(ProducerId(id))
            .with_producer_epoch(epoch);
        let address = self.setup.leaders[0].clone();
        let mut probe = self.client(producer);
        let answer = probe
            .send(&address, &request, version, Duration::ZERO)
            .await;
        self.give_back(producer, probe);
        let response =
            answer.map_err(|e| ANSWERED.violated(format!("InitProducerId got no answer: {e}")))?;
        if response.error_code != 0 {
            return match ResponseError::try_from_code(response.error_code) {
                Some(e) if e.is_retriable() => Ok(()),
                other => Err(PRODUCER_ID.violated(format!("InitProducerId answered {other:?}"))),
            };
        }
        let mut state = state;
        state.check_init(
            bump,
            (response.producer_id.0, response.producer_epoch),
            &mut self.model.producer_ids,
        )?;
        self.model.producers.insert(producer, state);
        Ok(())
    }

    pub(super) async fn idempotent_produce(
        &mut self,
        index: usize,
        producer: u8,
        partition: u8,
        values: Vec<String>,
        sequence: SequenceChoice,
    ) -> Result<(), Violation> {
        let slot = self.slot(partition);
        let key = slot as u8;
        let Some(state) = self.model.producers.get(&producer).cloned() else {
            return Ok(());
        };
        let Some(resolved) = state.resolve(key, sequence) else {
            return Ok(());
        };
        let timestamp_ms = self.setup.timestamp_base_ms + index as i64;
        let (wire, batch_values, batch_ts) = match &resolved {
            Resolved::New { wire, .. } => (*wire, values, timestamp_ms),
            Resolved::Duplicate { wire, batch } => {
                (*wire, batch.values.clone(), batch.timestamp_ms)
            }
        };
        let request = self.produce_request(
            slot,
            self.batch(&batch_values, batch_ts, Some(wire)),
            Acks::All,
        );
        let leader = self.setup.leaders[slot].clone();
        let mut probe = self.client(producer);
        let seen = Self::send_produce(
            &mut probe,
            &leader,
            self.setup.versions.produce,
            &request,
            self.setup.partitions[slot],
        )
        .await;
        self.give_back(producer, probe);
        let seen = seen?;
        match resolved {
            Resolved::Duplicate { batch, .. } => {
                ProducerModel::check_duplicate(&batch, seen.error_code, seen.base_offset)
            }
            Resolved::New {
                refused,
                wire,
                may_append,
            } if !(refused.is_empty() || (may_append && seen.error_code == 0)) => {
                ProducerModel::check_refused(&refused, wire, seen.error_code)
            }
            Resolved::New { wire, .. } => {
                let count = batch_values.len();
                self.model.partitions[slot].check_produce(
                    batch_values.clone(),
                    batch_ts,
                    true,
                    seen,
                )?;
                if seen.error_code == 0 {
                    let state = self.model.producers.entry(producer).or_default();
                    state.appended(key, wire.2, batch_values, batch_ts, seen.base_offset);
                    debug_assert_eq!(
                        count,
                        state.partitions[&key]
                            .1
                            .back()
                            .map_or(0, |b| b.values.len())
                    );
                } else {
                    self.model.producers.entry(producer).or_default().uncertain = true;
                }
                Ok(())
            }
        }
    }
}
