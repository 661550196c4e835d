//! The cluster's decisions as plain code: no sockets, no Redis, no clock of its own (every
//! function that needs the time takes it). The controller and the partitions call these; the
//! seeded tests below drive them through random schedules and check the invariants after every
//! step.

use std::collections::BTreeMap;

/// A partition's replication state as the coordinator keeps it (`C:partitions`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PartitionRecord {
    pub epoch: i32,
    /// -1 while no node leads.
    pub leader: i32,
    pub isr: Vec<i32>,
    pub version: i64,
}

/// Whether `node` may take the lease: it must be in the ISR of every partition the coordinator
/// knows (an empty map means a new cluster, where anyone may), unless unclean elections are on.
pub fn eligible(node: i32, partitions: &BTreeMap<String, PartitionRecord>, unclean: bool) -> bool {
    unclean || partitions.values().all(|record| record.isr.contains(&node))
}

/// The epoch an election takes: above everything the coordinator granted and everything this
/// node has seen, so a coordinator that lost its data cannot hand out an old epoch again.
pub fn next_epoch(stored_epoch: i32, floor_epoch: i32) -> i32 {
    stored_epoch.max(floor_epoch).saturating_add(1)
}

/// The ISR after `winner` is elected: the old leader leaves (its lease lapsed, so it is
/// presumed dead; it rejoins when it catches up), the winner is in it.
pub fn isr_after_election(isr: &[i32], old_leader: i32, winner: i32) -> Vec<i32> {
    let mut next: Vec<i32> = isr
        .iter()
        .copied()
        .filter(|node| *node != old_leader || *node == winner)
        .collect();
    if !next.contains(&winner) {
        next.push(winner);
    }
    next.sort_unstable();
    next.dedup();
    next
}

/// How long a leader may act on a renewal it sent at `sent_ms` (monotonic): the lease length
/// minus a margin for clock drift between this node and Redis and for Redis' own expiry
/// granularity. The deadline counts from when the renewal was *sent*, never from when the
/// answer came, so a slow answer only shortens the lease.
pub fn lease_deadline_ms(sent_ms: u64, lease_ms: u64) -> u64 {
    sent_ms + lease_ms.saturating_sub(lease_margin_ms(lease_ms))
}

pub fn lease_margin_ms(lease_ms: u64) -> u64 {
    (lease_ms / 10).max(50).min(lease_ms / 2)
}

/// What the leader knows of one follower of one partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FollowerProgress {
    /// The follower's durable log end offset, as its last fetch asked for it.
    pub fetch_offset: i64,
    /// The leader's log end offset when it answered the follower's previous fetch.
    pub leader_end_at_last_fetch: i64,
    pub last_fetch_ms: u64,
    /// When the follower last had everything the leader had (Kafka's `lastCaughtUpTimeMs`);
    /// None if it never did in this epoch.
    pub last_caught_up_ms: Option<u64>,
}

impl FollowerProgress {
    /// A follower the leader has not heard from in this epoch: counted as caught up at
    /// `now_ms`, so it gets `replica_lag_ms` to show up before it leaves the ISR.
    pub fn new(now_ms: u64) -> FollowerProgress {
        FollowerProgress {
            fetch_offset: -1,
            leader_end_at_last_fetch: i64::MAX,
            last_fetch_ms: now_ms,
            last_caught_up_ms: Some(now_ms),
        }
    }

    /// A fetch at `fetch_offset` arrived while the leader's log ends at `leader_end`. As in
    /// Kafka: the follower is caught up now if it asks for the leader's end, and was caught up
    /// at its previous fetch if it asks for what the leader's end was then.
    pub fn on_fetch(&mut self, fetch_offset: i64, leader_end: i64, now_ms: u64) {
        if fetch_offset >= leader_end {
            self.last_caught_up_ms = Some(now_ms);
        } else if fetch_offset >= self.leader_end_at_last_fetch {
            self.last_caught_up_ms = Some(self.last_fetch_ms);
        }
        self.fetch_offset = fetch_offset;
        self.leader_end_at_last_fetch = leader_end;
        self.last_fetch_ms = now_ms;
    }

    pub fn lagging(&self, now_ms: u64, replica_lag_ms: u64) -> bool {
        match self.last_caught_up_ms {
            Some(at) => now_ms.saturating_sub(at) > replica_lag_ms,
            None => true,
        }
    }
}

/// The high watermark the leader may publish: the smallest durable log end offset over the ISR
/// (the leader's own included), or None while it may not move (the ISR is below
/// `min_insync_replicas`, or an ISR member has not fetched in this epoch yet). The caller keeps
/// it monotonic.
pub fn high_watermark(
    leader: i32,
    leader_durable_end: i64,
    isr: &[i32],
    followers: &BTreeMap<i32, FollowerProgress>,
    min_insync_replicas: usize,
) -> Option<i64> {
    if isr.len() < min_insync_replicas || !isr.contains(&leader) {
        return None;
    }
    let mut hwm = leader_durable_end;
    for node in isr.iter().filter(|node| **node != leader) {
        let progress = followers.get(node)?;
        if progress.fetch_offset < 0 {
            return None;
        }
        hwm = hwm.min(progress.fetch_offset);
    }
    Some(hwm)
}

#[allow(clippy::too_many_arguments)]
/// The ISR change the leader should ask the coordinator for, if any: followers that lagged for
/// longer than `replica_lag_ms` leave, followers that reached the high watermark (and the start
/// of this epoch, so they hold the leader's history) join. The leader always stays.
pub fn isr_change(
    leader: i32,
    isr: &[i32],
    replicas: &[i32],
    followers: &BTreeMap<i32, FollowerProgress>,
    high_watermark: i64,
    epoch_start_offset: i64,
    now_ms: u64,
    replica_lag_ms: u64,
) -> Option<Vec<i32>> {
    let mut next: Vec<i32> = Vec::with_capacity(replicas.len());
    for node in replicas {
        let in_isr = isr.contains(node);
        let keep = if *node == leader {
            true
        } else {
            match followers.get(node) {
                Some(progress) if in_isr => !progress.lagging(now_ms, replica_lag_ms),
                Some(progress) => {
                    progress.fetch_offset >= high_watermark
                        && progress.fetch_offset >= epoch_start_offset
                        && !progress.lagging(now_ms, replica_lag_ms)
                }
                // An ISR member that has not fetched at all keeps its place until its grace
                // (FollowerProgress::new) runs out; the caller creates progress for every ISR
                // member when the epoch starts.
                None => in_isr,
            }
        };
        if keep {
            next.push(*node);
        }
    }
    next.sort_unstable();
    let mut current = isr.to_vec();
    current.sort_unstable();
    (next != current).then_some(next)
}

/// Where a follower cuts its log after asking the leader where its latest epoch ends
/// (KIP-101, KIP-279): the leader answered `(leader_epoch, leader_end)` for the follower's
/// latest epoch; `local_end_for` gives the follower's own end of an epoch. None means "cut
/// nothing". An UNDEFINED answer (-1) means the leader has none of the follower's epochs: the
/// follower keeps nothing it cannot prove, and cuts to its high watermark (never below).
pub fn truncation_offset(
    local_end: i64,
    high_watermark: i64,
    leader_epoch: i32,
    leader_end: i64,
    local_end_for: impl Fn(i32) -> i64,
) -> Option<i64> {
    let target = if leader_epoch < 0 || leader_end < 0 {
        high_watermark
    } else {
        leader_end.min(local_end_for(leader_epoch))
    };
    let target = target.min(local_end);
    (target < local_end).then_some(target)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    #[test]
    fn epochs_never_go_back_even_when_the_coordinator_forgot_them() {
        assert_eq!(next_epoch(4, 2), 5);
        // A Redis restarted empty answers 0; the node's floor keeps the epoch moving up.
        assert_eq!(next_epoch(0, 7), 8);
        assert_eq!(next_epoch(i32::MAX, 0), i32::MAX);
    }

    #[test]
    fn only_isr_members_are_eligible_unless_unclean() {
        let mut partitions = BTreeMap::new();
        partitions.insert(
            "t:0".to_string(),
            PartitionRecord {
                epoch: 1,
                leader: 1,
                isr: vec![1, 2],
                version: 1,
            },
        );
        assert!(eligible(2, &partitions, false));
        assert!(!eligible(3, &partitions, false));
        assert!(eligible(3, &partitions, true));
        assert!(eligible(3, &BTreeMap::new(), false));
    }

    #[test]
    fn election_drops_the_old_leader_from_the_isr() {
        assert_eq!(isr_after_election(&[1, 2, 3], 1, 2), vec![2, 3]);
        assert_eq!(isr_after_election(&[1], 1, 3), vec![3]);
        assert_eq!(isr_after_election(&[2, 3], 2, 2), vec![2, 3]);
    }

    #[test]
    fn the_lease_deadline_counts_from_the_send_and_keeps_a_margin() {
        assert_eq!(lease_deadline_ms(1_000, 3_000), 3_700);
        assert_eq!(lease_margin_ms(100), 50);
        assert!(lease_deadline_ms(0, 3_000) < 3_000);
    }

    #[test]
    fn caught_up_time_follows_kafkas_rule() {
        let mut progress = FollowerProgress::new(0);
        progress.on_fetch(10, 20, 100);
        assert_eq!(progress.last_caught_up_ms, Some(0));
        // Asks for what the leader's end was at the previous fetch: caught up then.
        progress.on_fetch(20, 30, 200);
        assert_eq!(progress.last_caught_up_ms, Some(100));
        progress.on_fetch(30, 30, 300);
        assert_eq!(progress.last_caught_up_ms, Some(300));
        assert!(!progress.lagging(1_000, 1_000));
        assert!(progress.lagging(1_301, 1_000));
    }

    #[test]
    fn truncation_follows_kip_279() {
        let local = |epoch: i32| match epoch {
            3 => 20,
            _ => 40,
        };
        // The leader knows our latest epoch and it ends earlier there.
        assert_eq!(truncation_offset(40, 10, 5, 30, local), Some(30));
        // The leader answers an older epoch: cut at the smaller end of that epoch.
        assert_eq!(truncation_offset(40, 10, 3, 25, local), Some(20));
        // Nothing to cut.
        assert_eq!(truncation_offset(30, 10, 5, 30, local), None);
        // The leader has none of our epochs: keep only what was committed.
        assert_eq!(truncation_offset(40, 10, -1, -1, local), Some(10));
    }

    /// One node's replica of one partition in the simulation below.
    #[derive(Debug, Clone, Default)]
    struct SimReplica {
        /// Record values by offset, with the epoch each was written in.
        log: Vec<(i32, u64)>,
        durable: usize,
        high_watermark: i64,
        alive: bool,
        epoch_seen: i32,
    }

    impl SimReplica {
        fn end_for(&self, epoch: i32) -> i64 {
            // The offset after the last record of an epoch <= `epoch`.
            let mut end = 0;
            for (offset, (e, _)) in self.log.iter().enumerate() {
                if *e <= epoch {
                    end = offset as i64 + 1;
                }
            }
            end
        }
        fn latest_epoch(&self) -> i32 {
            self.log.last().map_or(-1, |(e, _)| *e)
        }
    }

    /// A whole cluster of one partition driven by a seeded schedule: writes, replication
    /// fetches, fsyncs, crashes that lose what was not fsynced, lease lapses and elections
    /// through the functions above. After every step: committed (acknowledged) records are on
    /// every ISR member at their offsets, the high watermark never goes down on the leader, and
    /// epochs only grow.
    #[test]
    fn seeded_schedules_keep_acknowledged_records() {
        const SEEDS: u64 = 200;
        const STEPS: usize = 600;
        const NODES: i32 = 3;
        // Over all seeds: the schedules must elect and acknowledge, or they prove nothing.
        let mut elections_total = 0u64;
        let mut acknowledged_total = 0usize;
        for seed in 0..SEEDS {
            let mut rng = StdRng::seed_from_u64(seed);
            let mut replicas: Vec<SimReplica> = (0..NODES)
                .map(|_| SimReplica {
                    alive: true,
                    ..SimReplica::default()
                })
                .collect();
            let min_insync = 2usize;
            let mut stored_epoch = 0;
            let mut record = PartitionRecord {
                epoch: 1,
                leader: 0,
                isr: vec![0, 1, 2],
                version: 1,
            };
            stored_epoch = stored_epoch.max(1);
            replicas.iter_mut().for_each(|r| r.epoch_seen = 1);
            let mut followers: BTreeMap<i32, FollowerProgress> =
                (1..NODES).map(|n| (n, FollowerProgress::new(0))).collect();
            let mut acknowledged: Vec<(i64, u64)> = Vec::new();
            let mut pending: Vec<(i64, u64)> = Vec::new();
            let mut leader_hwm_seen = 0i64;
            let mut next_value = 0u64;
            let mut now = 0u64;
            let trace = std::env::var("YAK_SIM_TRACE").ok() == Some(seed.to_string());
            // A leader that crashed never leads again at its epoch: once restarted it holds no
            // lease (a real node releases a lease left from before its restart and stands for
            // election at a new epoch), and its unacknowledged writes died with it.
            let mut leader_crashed = false;
            for step in 0..STEPS {
                now += rng.random_range(1..50);
                let leader = record.leader;
                let action = rng.random_range(0..100);
                if trace {
                    eprintln!("step {step} action {action} record {record:?}");
                    for (n, r) in replicas.iter().enumerate() {
                        eprintln!(
                            "  node {n}: alive {} durable {} hwm {} seen {} log {:?}",
                            r.alive, r.durable, r.high_watermark, r.epoch_seen, r.log
                        );
                    }
                    eprintln!("  acked {acknowledged:?}");
                }
                match action {
                    // A client write on the leader.
                    0..=29 if leader >= 0 && replicas[leader as usize].alive && !leader_crashed => {
                        let epoch = record.epoch;
                        let r = &mut replicas[leader as usize];
                        let offset = r.log.len() as i64;
                        if record.isr.len() >= min_insync {
                            r.log.push((epoch, next_value));
                            pending.push((offset, next_value));
                            next_value += 1;
                        }
                    }
                    // An fsync on a random node.
                    30..=44 => {
                        let n = rng.random_range(0..NODES) as usize;
                        if replicas[n].alive {
                            replicas[n].durable = replicas[n].log.len();
                        }
                    }
                    // A follower fetch: it sends its durable end, gets records and the hwm.
                    45..=74
                        if leader >= 0 && replicas[leader as usize].alive && !leader_crashed =>
                    {
                        let f = rng.random_range(0..NODES);
                        if f == leader || !replicas[f as usize].alive {
                            continue;
                        }
                        if replicas[f as usize].epoch_seen < record.epoch {
                            // Becoming follower: truncate by epoch first.
                            let asked = replicas[f as usize].latest_epoch();
                            let l = &replicas[leader as usize];
                            let (answer_epoch, answer_end) = if asked < 0 {
                                (-1, -1)
                            } else {
                                let e = l
                                    .log
                                    .iter()
                                    .map(|(e, _)| *e)
                                    .filter(|e| *e <= asked)
                                    .max()
                                    .unwrap_or(-1);
                                if e < 0 {
                                    (-1, -1)
                                } else if e == l.latest_epoch() {
                                    (e, l.log.len() as i64)
                                } else {
                                    (e, l.end_for(e))
                                }
                            };
                            let fr = &mut replicas[f as usize];
                            let local_end = fr.log.len() as i64;
                            let hwm = fr.high_watermark;
                            let cut = if asked < 0 {
                                None
                            } else {
                                truncation_offset(local_end, hwm, answer_epoch, answer_end, |e| {
                                    fr.end_for(e)
                                })
                            };
                            if let Some(cut) = cut {
                                assert!(
                                    cut >= fr.high_watermark.min(local_end),
                                    "seed {seed} step {step}: truncation below hwm"
                                );
                                fr.log.truncate(cut as usize);
                                fr.durable = fr.durable.min(cut as usize);
                            }
                            fr.epoch_seen = record.epoch;
                        }
                        let fetch_offset = replicas[f as usize].durable as i64;
                        // The fetch offset is the follower's durable end, so its log end is
                        // where the leader copies from.
                        replicas[f as usize].log.truncate(fetch_offset as usize);
                        let leader_end = replicas[leader as usize].log.len() as i64;
                        followers
                            .entry(f)
                            .or_insert_with(|| FollowerProgress::new(now))
                            .on_fetch(fetch_offset, leader_end, now);
                        let l_durable = replicas[leader as usize].durable as i64;
                        if let Some(hwm) =
                            high_watermark(leader, l_durable, &record.isr, &followers, min_insync)
                        {
                            let l = &mut replicas[leader as usize];
                            l.high_watermark = l.high_watermark.max(hwm);
                        }
                        let l = replicas[leader as usize].clone();
                        assert!(
                            l.high_watermark >= leader_hwm_seen || l.epoch_seen != record.epoch,
                            "seed {seed} step {step}: leader hwm went down"
                        );
                        leader_hwm_seen = l.high_watermark;
                        // Acknowledge what the hwm passed.
                        pending.retain(|(offset, value)| {
                            if *offset < l.high_watermark {
                                acknowledged.push((*offset, *value));
                                false
                            } else {
                                true
                            }
                        });
                        let copy = rng.random_range(0..=3usize);
                        let fr = &mut replicas[f as usize];
                        let from = fr.log.len();
                        let to = (from + copy).min(l.log.len());
                        if from <= l.log.len() {
                            fr.log.extend_from_slice(&l.log[from..to]);
                        }
                        fr.high_watermark = fr.high_watermark.max(
                            l.high_watermark
                                .min(fr.log.len() as i64)
                                .min(fr.durable as i64),
                        );
                    }
                    // The leader checks its ISR.
                    75..=84
                        if leader >= 0 && replicas[leader as usize].alive && !leader_crashed =>
                    {
                        let l = &replicas[leader as usize];
                        let end = l.log.len() as i64;
                        let start = l
                            .log
                            .iter()
                            .position(|(e, _)| *e == record.epoch)
                            .map_or(end, |p| p as i64);
                        if let Some(isr) = isr_change(
                            leader,
                            &record.isr,
                            &[0, 1, 2],
                            &followers,
                            l.high_watermark,
                            start,
                            now,
                            300,
                        ) {
                            record.isr = isr;
                            record.version += 1;
                        }
                    }
                    // A crash: unsynced records are lost.
                    85..=86 => {
                        let n = rng.random_range(0..NODES) as usize;
                        let r = &mut replicas[n];
                        r.log.truncate(r.durable);
                        r.high_watermark = r.high_watermark.min(r.log.len() as i64);
                        r.alive = false;
                        if n as i32 == leader {
                            leader_crashed = true;
                            pending.clear();
                        }
                    }
                    // A restart.
                    87..=94 => {
                        let n = rng.random_range(0..NODES) as usize;
                        replicas[n].alive = true;
                    }
                    // The leader's lease lapses (it is dead or stalled) and an election runs.
                    _ => {
                        if leader >= 0
                            && replicas[leader as usize].alive
                            && !leader_crashed
                            && rng.random_bool(0.9)
                        {
                            continue;
                        }
                        let candidate = rng.random_range(0..NODES);
                        if !replicas[candidate as usize].alive {
                            continue;
                        }
                        let mut map = BTreeMap::new();
                        map.insert("t:0".to_string(), record.clone());
                        if !eligible(candidate, &map, false) {
                            continue;
                        }
                        let epoch =
                            next_epoch(stored_epoch, replicas[candidate as usize].epoch_seen);
                        assert!(epoch > record.epoch, "seed {seed}: epoch went back");
                        stored_epoch = epoch;
                        record = PartitionRecord {
                            epoch,
                            leader: candidate,
                            isr: isr_after_election(&record.isr, leader, candidate),
                            version: record.version + 1,
                        };
                        replicas[candidate as usize].epoch_seen = epoch;
                        followers = record
                            .isr
                            .iter()
                            .filter(|n| **n != candidate)
                            .map(|n| (*n, FollowerProgress::new(now)))
                            .collect();
                        pending.clear();
                        leader_crashed = false;
                        elections_total += 1;
                        leader_hwm_seen = replicas[candidate as usize].high_watermark;
                    }
                }
                // Invariant: every acknowledged record is on every live-or-dead ISR member
                // (durably) at its offset.
                for node in &record.isr {
                    let r = &replicas[*node as usize];
                    for (offset, value) in &acknowledged {
                        let got = r.log.get(*offset as usize).map(|(_, v)| *v);
                        assert!(
                            (*offset as usize) < r.durable && got == Some(*value),
                            "seed {seed} step {step}: ISR member {node} lost acknowledged offset {offset}"
                        );
                    }
                }
            }
            acknowledged_total += acknowledged.len();
        }
        eprintln!("{elections_total} elections, {acknowledged_total} acknowledged");
        assert!(elections_total > SEEDS, "only {elections_total} elections");
        assert!(
            acknowledged_total > SEEDS as usize,
            "only {acknowledged_total} acknowledged"
        );
    }
}
