//! The controller's and the group coordinators' invariants: partition epochs, the
//! metadata log and group generations only move forward (KIP-101, KIP-497, KIP-631,
//! KIP-62).

use super::InvariantChecker;

impl InvariantChecker {
    /// Checks the controller: its registrations' epochs and its metadata log only move
    /// forward, across its restarts too (it fsyncs every record, KIP-631).
    /// `registrations` yields (topic, partition, leader epoch, partition epoch) of the
    /// controller process `incarnation`.
    ///
    /// A controller's registrations are what its metadata log says (`Controller::replay`
    /// applies each record as it is appended, and a starting process replays its log), and
    /// a process only appends to its log: the same process at the same log end holds the
    /// registrations of the last check, and they are not read again.
    ///
    /// The registrations of the last check are kept in the order they came: a prefix
    /// equal to them changes nothing the rule remembers (each epoch pair is put back as
    /// it was), so only what follows the first difference is looked up. Most steps change
    /// no registration, and then nothing is.
    pub fn check_controller<'a>(
        &mut self,
        time_ns: u64,
        incarnation: u64,
        registrations: impl IntoIterator<Item = (&'a str, i32, i32, i32)>,
        metadata_end: i64,
    ) {
        if self.violation.is_some() || self.controller_seen == Some((incarnation, metadata_end)) {
            return;
        }
        if metadata_end < self.metadata_end {
            let detail = format!(
                "the controller's metadata log ends at {metadata_end}, after {}",
                self.metadata_end
            );
            self.fail(time_ns, "metadata log went backwards", detail, "");
            return;
        }
        self.metadata_end = metadata_end;
        self.controller_seen = Some((incarnation, metadata_end));
        let mut registrations = registrations.into_iter();
        let mut same = 0;
        let mut first_new = None;
        for registration in registrations.by_ref() {
            let (topic, partition, leader_epoch, partition_epoch) = registration;
            match self.controller_last.get(same) {
                Some((t, p, l, e))
                    if (*p, *l, *e) == (partition, leader_epoch, partition_epoch) && t == topic =>
                {
                    same += 1
                }
                _ => {
                    first_new = Some(registration);
                    break;
                }
            }
        }
        self.controller_last.truncate(same);
        for (topic, partition, leader_epoch, partition_epoch) in
            first_new.into_iter().chain(registrations)
        {
            self.controller_last.push((
                topic.to_string(),
                partition,
                leader_epoch,
                partition_epoch,
            ));
            let now = (leader_epoch, partition_epoch);
            let epochs = match self.controller_epochs.get_mut(topic) {
                Some(epochs) => epochs,
                None => self.controller_epochs.entry(topic.to_string()).or_default(),
            };
            if let Some(before) = epochs.insert(partition, now) {
                if now.0 < before.0 || now.1 < before.1 {
                    let detail = format!(
                        "{topic}-{partition}: controller's (leader epoch, partition epoch) {before:?} then {now:?}"
                    );
                    self.fail(time_ns, "partition epochs went backwards", detail, "");
                    return;
                }
            }
        }
    }

    /// Checks a coordinator's groups: a group's generation never goes backwards while one
    /// coordinator process holds it (KIP-62; generations fence zombies). `generations`
    /// yields (group id, generation).
    pub fn check_generations<'a>(
        &mut self,
        time_ns: u64,
        host: &str,
        incarnation: u64,
        generations: impl IntoIterator<Item = (&'a str, i32)>,
    ) {
        let mut generations = generations.into_iter().peekable();
        if generations.peek().is_none() {
            return;
        }
        let by_host = match self.generations.get_mut(host) {
            Some(by_host) => by_host,
            None => self.generations.entry(host.to_string()).or_default(),
        };
        let by_group = by_host.entry(incarnation).or_default();
        let mut backwards = None;
        for (group, generation) in generations {
            let before = match by_group.get_mut(group) {
                Some(last) => Some(std::mem::replace(last, generation)),
                None => {
                    by_group.insert(group.to_string(), generation);
                    None
                }
            };
            if let Some(before) = before.filter(|&before| generation < before) {
                // Only the first violation is kept (`fail`), so the first is enough.
                backwards.get_or_insert_with(|| {
                    format!("{host}: group {group} at generation {before}, then {generation}")
                });
            }
        }
        if let Some(detail) = backwards {
            self.fail(time_ns, "group generation went backwards", detail, "");
        }
    }
}
