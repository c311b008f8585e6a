//! The model of the `admin` family: which topics a case asked CreateTopics for and what
//! became of each (created with known counts, refused, or unknown after a retriable
//! error), the answers CreateTopics and Metadata may give for them, and DeleteRecords on
//! the family's log partition (KIP-107), which moves the [`PartitionModel`]'s log start.

use faultline_wire::ResponseError;

use super::log_model::{PartitionModel, FAR_PAST_END};
use super::ops::{CountChoice, DeleteAt, FetchAt, TopicNameChoice};
use super::rules::{Violation, CREATED_TOPIC_METADATA, CREATE_TOPICS, DELETE_RECORDS};

/// Kafka's longest legal topic name (`Topic.MAX_NAME_LENGTH`).
pub const TOPIC_NAME_LENGTH_MAX: usize = 249;

/// What became of a topic name the case asked CreateTopics for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TopicState {
    /// Created; the partition count and replication factor when known (-1 asks the
    /// broker's default, which a pre-v5 answer does not tell).
    Created {
        /// Partitions.
        partitions: Option<i32>,
        /// Replicas per partition.
        replication_factor: Option<i16>,
    },
    /// Refused: the name does not exist.
    Refused,
    /// A retriable error answered: it may or may not exist.
    Unknown,
}

/// One topic the case asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicAttempt {
    /// The name sent.
    pub name: String,
    /// The partition count sent.
    pub partitions: i32,
    /// The replication factor sent.
    pub replication_factor: i16,
    /// What became of it.
    pub state: TopicState,
}

/// The admin family's model of one case.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AdminModel {
    /// Brokers Metadata listed at the case's start (the live brokers, KIP-500 unfenced).
    pub live_brokers: usize,
    /// Each distinct name asked for, in order.
    pub attempts: Vec<TopicAttempt>,
}

/// Kafka's `Topic.validate`: 1..=249 characters of `[a-zA-Z0-9._-]`, not `.` or `..`.
pub fn legal_topic_name(name: &str) -> bool {
    let characters = name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    characters
        && !name.is_empty()
        && name.len() <= TOPIC_NAME_LENGTH_MAX
        && name != "."
        && name != ".."
}

/// The name a [`TopicNameChoice`] means for op `index` of a case tagged `tag` (legal
/// names are the tag's, so each case's are fresh and a sequence replays).
pub fn topic_name(choice: TopicNameChoice, tag: &str, index: usize) -> String {
    let tag: String = tag
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    let base = format!("{tag}-t{index}");
    match choice {
        TopicNameChoice::Legal { punctuation: false } => base,
        TopicNameChoice::Legal { punctuation: true } => format!("{tag}.t{index}_x"),
        TopicNameChoice::Length(length) => {
            let mut name = format!("{base}-");
            let length = usize::from(length.max(1));
            while name.len() < length {
                name.push('x');
            }
            name.truncate(length);
            name
        }
        TopicNameChoice::Empty => String::new(),
        TopicNameChoice::Dot => ".".into(),
        TopicNameChoice::DotDot => "..".into(),
        TopicNameChoice::IllegalChar(c) => format!("{base}{c}x"),
    }
}

/// The wire value of a partition count.
pub fn partitions_wire(choice: CountChoice) -> i32 {
    match choice {
        CountChoice::Default => -1,
        CountChoice::Zero => 0,
        CountChoice::Count(n) => i32::from(n.clamp(1, 3)),
        CountChoice::PastLive => 4,
    }
}

/// The wire value of a replication factor, given the live brokers.
pub fn replication_factor_wire(choice: CountChoice, live_brokers: usize) -> i16 {
    let live = live_brokers.max(1) as i16;
    match choice {
        CountChoice::Default => -1,
        CountChoice::Zero => 0,
        CountChoice::Count(n) => i16::from(n) % live + 1,
        CountChoice::PastLive => live + 1,
    }
}

/// One CreateTopics answer for one topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CreateSeen {
    /// The topic's error code.
    pub error_code: i16,
    /// The partition count answered (-1 before v5).
    pub partitions: i32,
    /// The replication factor answered (-1 before v5).
    pub replication_factor: i16,
}

impl AdminModel {
    fn find(&self, name: &str) -> Option<usize> {
        self.attempts.iter().position(|a| a.name == name)
    }

    /// The errors CreateTopics of `(name, partitions, rf)` may answer, and whether it may
    /// succeed. Where several rules are broken, any of their errors will do (Kafka checks
    /// in its own order, other brokers in theirs).
    fn allowed(&self, name: &str, partitions: i32, rf: i16) -> (Vec<ResponseError>, bool) {
        let mut errors = Vec::new();
        let mut may_succeed = true;
        if !legal_topic_name(name) {
            errors.push(ResponseError::InvalidTopicException);
            may_succeed = false;
        }
        match self.find(name).map(|i| self.attempts[i].state) {
            Some(TopicState::Created { .. }) => {
                errors.push(ResponseError::TopicAlreadyExists);
                may_succeed = false;
            }
            Some(TopicState::Unknown) => errors.push(ResponseError::TopicAlreadyExists),
            Some(TopicState::Refused) | None => {}
        }
        if partitions == 0 || partitions < -1 {
            errors.push(ResponseError::InvalidPartitions);
            may_succeed = false;
        }
        if rf == -1 {
            // The broker's default may exceed the live brokers.
            errors.push(ResponseError::InvalidReplicationFactor);
        } else if rf < 1 || rf as usize > self.live_brokers {
            errors.push(ResponseError::InvalidReplicationFactor);
            may_succeed = false;
        }
        (errors, may_succeed)
    }

    /// CreateTopics of `(name, partitions, rf)` answered `seen`.
    pub fn check_create(
        &mut self,
        name: &str,
        partitions: i32,
        rf: i16,
        seen: CreateSeen,
    ) -> Result<(), Violation> {
        let (errors, may_succeed) = self.allowed(name, partitions, rf);
        let index = match self.find(name) {
            Some(i) => i,
            None => {
                self.attempts.push(TopicAttempt {
                    name: name.to_string(),
                    partitions,
                    replication_factor: rf,
                    state: TopicState::Refused,
                });
                self.attempts.len() - 1
            }
        };
        let shown = shorten(name);
        let state = self.attempts[index].state;
        match ResponseError::try_from_code(seen.error_code) {
            None if may_succeed => {
                let counts = self.created_counts(partitions, rf, seen, &shown)?;
                self.attempts[index].state = counts;
                Ok(())
            }
            None => Err(CREATE_TOPICS.violated(format!(
                "CreateTopics of {shown} ({partitions} partitions, replication factor {rf}, {} live brokers) answered NONE; allowed: {errors:?}",
                self.live_brokers
            ))),
            Some(error) if errors.contains(&error) => {
                if state != TopicState::Unknown && !matches!(state, TopicState::Created { .. }) {
                    self.attempts[index].state = TopicState::Refused;
                }
                if error == ResponseError::TopicAlreadyExists && state == TopicState::Unknown {
                    self.attempts[index].state = TopicState::Created {
                        partitions: None,
                        replication_factor: None,
                    };
                }
                Ok(())
            }
            Some(error) if error.is_retriable() => {
                if !matches!(state, TopicState::Created { .. }) {
                    self.attempts[index].state = TopicState::Unknown;
                }
                Ok(())
            }
            Some(error) => Err(CREATE_TOPICS.violated(format!(
                "CreateTopics of {shown} ({partitions} partitions, replication factor {rf}, {} live brokers) answered {error:?}; allowed: {}",
                self.live_brokers,
                if may_succeed { format!("NONE or {errors:?}") } else { format!("{errors:?}") }
            ))),
        }
    }

    /// The counts a successful CreateTopics answered (v5+, KIP-525) against those asked.
    fn created_counts(
        &self,
        partitions: i32,
        rf: i16,
        seen: CreateSeen,
        shown: &str,
    ) -> Result<TopicState, Violation> {
        let answered_partitions = (seen.partitions != -1).then_some(seen.partitions);
        let answered_rf = (seen.replication_factor != -1).then_some(seen.replication_factor);
        let partitions = (partitions >= 1)
            .then_some(partitions)
            .or(answered_partitions);
        let rf = (rf >= 1).then_some(rf).or(answered_rf);
        let wrong_partitions = answered_partitions.is_some_and(|p| Some(p) != partitions || p < 1);
        let wrong_rf =
            answered_rf.is_some_and(|r| Some(r) != rf || r < 1 || r as usize > self.live_brokers);
        if wrong_partitions || wrong_rf {
            return Err(CREATE_TOPICS.violated(format!(
                "CreateTopics of {shown} created {} partitions with replication factor {}, asked {partitions:?} and {rf:?} ({} live brokers)",
                seen.partitions, seen.replication_factor, self.live_brokers
            )));
        }
        Ok(TopicState::Created {
            partitions,
            replication_factor: rf,
        })
    }

    /// The attempt a `which` means, if the case asked for any topic yet.
    pub fn attempt(&self, which: u8) -> Option<&TopicAttempt> {
        (!self.attempts.is_empty()).then(|| &self.attempts[which as usize % self.attempts.len()])
    }

    /// Metadata of an attempted topic answered `listed`: `None` when the topic was not
    /// listed with error NONE, else each partition's replica count. `Ok(false)`: not yet
    /// listed after a creation (metadata propagates to brokers after the answer: ask again).
    pub fn check_described(
        attempt: &TopicAttempt,
        listed: Option<&[usize]>,
    ) -> Result<bool, Violation> {
        let shown = shorten(&attempt.name);
        match (attempt.state, listed) {
            (TopicState::Unknown, _) => Ok(true),
            (TopicState::Refused, None) => Ok(true),
            (TopicState::Refused, Some(_)) => Err(CREATED_TOPIC_METADATA.violated(format!(
                "Metadata lists {shown}, which CreateTopics refused"
            ))),
            (TopicState::Created { .. }, None) => Ok(false),
            (
                TopicState::Created {
                    partitions,
                    replication_factor,
                },
                Some(replicas),
            ) => {
                let wrong_count = partitions.is_some_and(|p| p as usize != replicas.len());
                let wrong_rf =
                    replication_factor.is_some_and(|rf| replicas.iter().any(|&r| r != rf as usize));
                if wrong_count || wrong_rf || replicas.is_empty() {
                    return Err(CREATED_TOPIC_METADATA.violated(format!(
                        "Metadata lists {shown} with replicas per partition {replicas:?}; CreateTopics created {partitions:?} partitions with replication factor {replication_factor:?}"
                    )));
                }
                Ok(true)
            }
        }
    }
}

/// A long name shortened for messages.
fn shorten(name: &str) -> String {
    if name.len() <= 40 {
        format!("{name:?}")
    } else {
        format!(
            "{:?}… ({} characters)",
            name.chars().take(30).collect::<String>(),
            name.len()
        )
    }
}

impl PartitionModel {
    /// The log end, when known: a fresh log with no batches ends at its start.
    fn known_end(&self) -> Option<i64> {
        if self.uncertain {
            return None;
        }
        self.log_end()
            .or_else(|| self.log_start.filter(|_| self.batches.is_empty()))
    }

    /// The offset a [`DeleteAt`] means now.
    pub fn delete_offset(&self, at: DeleteAt) -> i64 {
        let start = self.log_start.unwrap_or(0);
        match at {
            DeleteAt::HighWatermarkSentinel => -1,
            DeleteAt::HighWatermark => self.high_watermark_floor.max(start),
            DeleteAt::InsideBatch { batch, record } => {
                self.fetch_offset(FetchAt::InsideBatch { batch, record })
            }
            DeleteAt::BelowLogStart => (start - 1).max(0),
            DeleteAt::PastHighWatermark { beyond } => match self.known_end() {
                Some(end) => end + i64::from(beyond.max(1)),
                None => FAR_PAST_END + i64::from(beyond),
            },
        }
    }

    /// DeleteRecords up to `requested` answered `error_code` and `low_watermark` (KIP-107).
    pub fn check_delete(
        &mut self,
        requested: i64,
        error_code: i16,
        low_watermark: i64,
    ) -> Result<(), Violation> {
        let end = self.known_end();
        let floor = self.high_watermark_floor;
        match ResponseError::try_from_code(error_code) {
            Some(ResponseError::OffsetOutOfRange) => {
                if requested == -1 || (requested >= 0 && requested <= floor) {
                    return Err(DELETE_RECORDS.violated(format!(
                        "DeleteRecords up to {requested} answered OFFSET_OUT_OF_RANGE, but the high watermark is at least {floor}"
                    )));
                }
                Ok(())
            }
            Some(error) if error.is_retriable() => {
                // The leader may have moved its log start already; followers lag.
                let ceiling = if requested == -1 {
                    end.unwrap_or(FAR_PAST_END)
                } else {
                    requested
                };
                let ceiling = ceiling.max(self.log_start.unwrap_or(0));
                self.log_start = None;
                self.log_start_ceiling = Some(self.log_start_ceiling.unwrap_or(0).max(ceiling));
                Ok(())
            }
            Some(error) => Err(DELETE_RECORDS.violated(format!(
                "DeleteRecords up to {requested} answered {error:?}"
            ))),
            None => self.deleted(requested, low_watermark, end),
        }
    }

    fn deleted(
        &mut self,
        requested: i64,
        low_watermark: i64,
        end: Option<i64>,
    ) -> Result<(), Violation> {
        let floor = self.high_watermark_floor;
        let (lowest, highest, what) = match (requested, self.log_start) {
            (-1, start) => (
                floor.max(start.unwrap_or(0)),
                end.unwrap_or(i64::MAX),
                "the high watermark".to_string(),
            ),
            (r, Some(start)) if r < start => (start, start, format!("the log start {start}")),
            (r, None) => (
                r,
                r.max(self.log_start_ceiling.unwrap_or(r)),
                format!("{r} or the log start"),
            ),
            (r, Some(_)) if end.is_some_and(|e| r > e) => {
                return Err(DELETE_RECORDS.violated(format!(
                    "DeleteRecords up to {r}, past the log end {end:?} and so past the high watermark, answered NONE (low watermark {low_watermark}), not OFFSET_OUT_OF_RANGE"
                )))
            }
            (r, Some(_)) => (r, r, format!("{r}")),
        };
        if low_watermark < lowest || low_watermark > highest {
            return Err(DELETE_RECORDS.violated(format!(
                "DeleteRecords up to {requested} answered low watermark {low_watermark}; expected {what} ({lowest}..={highest})"
            )));
        }
        self.log_start = Some(low_watermark);
        self.log_start_ceiling = None;
        // Deleting up to an offset means the high watermark had reached it (KIP-107).
        self.high_watermark_floor = floor.max(low_watermark);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::certify::model_based::log_model::ProduceSeen;

    fn created(error_code: i16) -> CreateSeen {
        CreateSeen {
            error_code,
            partitions: -1,
            replication_factor: -1,
        }
    }

    fn model() -> AdminModel {
        AdminModel {
            live_brokers: 3,
            attempts: Vec::new(),
        }
    }

    #[test]
    fn topic_names_follow_kafkas_topic_validate() {
        let name = |c| topic_name(c, "sim1-admin-3", 7);
        assert!(legal_topic_name(&name(TopicNameChoice::Legal {
            punctuation: true
        })));
        assert_eq!(name(TopicNameChoice::Length(249)).len(), 249);
        assert!(legal_topic_name(&name(TopicNameChoice::Length(249))));
        assert!(!legal_topic_name(&name(TopicNameChoice::Length(250))));
        assert!(!legal_topic_name(&name(TopicNameChoice::Empty)));
        assert!(!legal_topic_name(&name(TopicNameChoice::Dot)));
        assert!(!legal_topic_name(&name(TopicNameChoice::DotDot)));
        assert!(!legal_topic_name(&name(TopicNameChoice::IllegalChar('/'))));
        assert!(legal_topic_name("..."));
    }

    #[test]
    fn create_topics_must_refuse_what_kafka_refuses_and_create_the_rest() {
        let invalid_topic = ResponseError::InvalidTopicException.code();
        let mut m = model();
        m.check_create("a-1", 2, 3, created(0)).unwrap();
        // A second CreateTopics of the same name.
        let v = m.clone().check_create("a-1", 2, 3, created(0)).unwrap_err();
        assert_eq!(v.rule, CREATE_TOPICS.id);
        m.check_create(
            "a-1",
            2,
            3,
            created(ResponseError::TopicAlreadyExists.code()),
        )
        .unwrap();
        // 250 characters accepted, replication factor 0 or past the live brokers accepted.
        let long = "x".repeat(250);
        let v = m.clone().check_create(&long, 1, 1, created(0)).unwrap_err();
        assert_eq!(v.rule, CREATE_TOPICS.id);
        m.check_create(&long, 1, 1, created(invalid_topic)).unwrap();
        for rf in [0, 4] {
            let v = m.clone().check_create("b", 1, rf, created(0)).unwrap_err();
            assert_eq!(v.rule, CREATE_TOPICS.id);
        }
        // Several rules broken: any of their errors will do; another error will not.
        let partitions = ResponseError::InvalidPartitions.code();
        m.clone()
            .check_create(".", 0, 1, created(partitions))
            .unwrap();
        m.clone()
            .check_create(".", 0, 1, created(invalid_topic))
            .unwrap();
        let v = m
            .clone()
            .check_create("c", 1, 1, created(ResponseError::UnknownServerError.code()))
            .unwrap_err();
        assert_eq!(v.rule, CREATE_TOPICS.id);
        // Counts answered (v5+) must be the counts asked.
        let wrong = CreateSeen {
            error_code: 0,
            partitions: 3,
            replication_factor: 1,
        };
        let v = m.clone().check_create("d", 2, 1, wrong).unwrap_err();
        assert_eq!(v.rule, CREATE_TOPICS.id);
    }

    #[test]
    fn metadata_must_list_created_topics_with_their_counts_and_no_refused_ones() {
        let mut m = model();
        m.check_create("a", 2, 3, created(0)).unwrap();
        m.check_create(
            "..",
            1,
            1,
            created(ResponseError::InvalidTopicException.code()),
        )
        .unwrap();
        let a = m.attempt(0).unwrap();
        assert!(AdminModel::check_described(a, Some(&[3, 3])).unwrap());
        assert!(!AdminModel::check_described(a, None).unwrap());
        let v = AdminModel::check_described(a, Some(&[3])).unwrap_err();
        assert_eq!(v.rule, CREATED_TOPIC_METADATA.id);
        let v = AdminModel::check_described(a, Some(&[2, 2])).unwrap_err();
        assert_eq!(v.rule, CREATED_TOPIC_METADATA.id);
        let refused = m.attempt(1).unwrap();
        assert!(AdminModel::check_described(refused, None).unwrap());
        let v = AdminModel::check_described(refused, Some(&[1])).unwrap_err();
        assert_eq!(v.rule, CREATED_TOPIC_METADATA.id);
    }

    fn log_of(records: i64) -> PartitionModel {
        let mut log = PartitionModel {
            log_start: Some(0),
            ..PartitionModel::default()
        };
        let values = (0..records).map(|i| format!("v{i}")).collect();
        let seen = ProduceSeen {
            error_code: 0,
            base_offset: 0,
        };
        log.check_produce(values, 1, true, seen).unwrap();
        log
    }

    #[test]
    fn delete_records_answers_the_low_watermark_kip_107_gives() {
        let out_of_range = ResponseError::OffsetOutOfRange.code();
        let mut log = log_of(10);
        assert_eq!(
            log.delete_offset(DeleteAt::PastHighWatermark { beyond: 1 }),
            11
        );
        // Past the high watermark: OFFSET_OUT_OF_RANGE, never NONE.
        log.clone().check_delete(11, out_of_range, -1).unwrap();
        let v = log.clone().check_delete(11, 0, 11).unwrap_err();
        assert_eq!(v.rule, DELETE_RECORDS.id);
        // At the high watermark (and -1): NONE with the high watermark.
        let v = log.clone().check_delete(10, out_of_range, -1).unwrap_err();
        assert_eq!(v.rule, DELETE_RECORDS.id);
        let v = log.clone().check_delete(-1, out_of_range, -1).unwrap_err();
        assert_eq!(v.rule, DELETE_RECORDS.id);
        log.clone().check_delete(-1, 0, 10).unwrap();
        // Inside: the offset itself; then below the new start: the start, unchanged.
        let v = log.clone().check_delete(4, 0, 5).unwrap_err();
        assert_eq!(v.rule, DELETE_RECORDS.id);
        log.check_delete(4, 0, 4).unwrap();
        assert_eq!(log.log_start, Some(4));
        let v = log.clone().check_delete(2, 0, 2).unwrap_err();
        assert_eq!(v.rule, DELETE_RECORDS.id);
        log.check_delete(2, 0, 4).unwrap();
        // ListOffsets earliest must now answer the low watermark.
        log.clone().check_earliest(4).unwrap();
        assert!(log.clone().check_earliest(0).is_err());
        // A retriable error leaves the log start anywhere up to the offset asked.
        log.check_delete(7, ResponseError::RequestTimedOut.code(), -1)
            .unwrap();
        assert!(log.clone().check_earliest(8).is_err());
        log.check_earliest(7).unwrap();
    }
}
