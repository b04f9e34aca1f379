//! When to refresh PostgreSQL's planner statistics of the projection tables.
//!
//! A replica catching up writes millions of rows in minutes; until the tables are analyzed
//! the planner guesses their contents and picks sequential scans for the batch's
//! `conversation_id IN (…)` lookups, which then cost more with every row (measured: the
//! projection fell from ~8,000 to ~1,000 events/s at 200k memberships). Autovacuum analyzes
//! eventually, if it is on; the projection does not wait for it and analyzes on a doubling
//! schedule of applied events (1k, 2k, 4k, … and then at least every million).

/// Events after which the first analysis runs.
const FIRST: u64 = 1_000;
/// The longest gap between two analyses, in events.
const MAX_GAP: u64 = 1_000_000;

/// Counts applied events and says when an analysis is due.
#[derive(Debug, Clone)]
pub(crate) struct AnalyzeSchedule {
    applied: u64,
    next: u64,
}

impl Default for AnalyzeSchedule {
    fn default() -> Self {
        Self {
            applied: 0,
            next: FIRST,
        }
    }
}

impl AnalyzeSchedule {
    /// Records `events` applied; true when the tables should be analyzed now.
    pub(crate) fn applied(&mut self, events: u64) -> bool {
        self.applied = self.applied.saturating_add(events);
        if self.applied < self.next {
            return false;
        }
        self.next = self
            .applied
            .saturating_add(self.applied.clamp(FIRST, MAX_GAP));
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn analyses_follow_a_doubling_schedule_with_a_bounded_gap() {
        let mut schedule = AnalyzeSchedule::default();
        let due: Vec<u64> = (1..=25_000u64)
            .filter(|_| schedule.applied(256))
            .map(|batch| batch * 256)
            .collect();
        assert_eq!(due.first(), Some(&1_024), "first after ~1,000 events");
        // Each analysis doubles the count of the previous one, until the gap reaches
        // its bound.
        for pair in due.windows(2) {
            if pair[0] < MAX_GAP {
                assert!(pair[1] >= pair[0] * 2, "{pair:?}");
            }
            assert!(pair[1] - pair[0] <= MAX_GAP + 256, "{pair:?}");
        }
        assert!(
            *due.last().unwrap_or(&0) > 4_000_000,
            "still analyzing: {due:?}"
        );
        assert!(
            due.len() < 20,
            "a handful, not one per batch: {}",
            due.len()
        );
    }
}
