//! Helpers shared by the end-to-end tests.

use forger::train::history::HistoryRow;

/// History rows without the wall-clock column, which no two runs share.
pub fn without_time(rows: &[HistoryRow]) -> Vec<HistoryRow> {
    rows.iter()
        .map(|r| HistoryRow {
            seconds: 0.0,
            ..r.clone()
        })
        .collect()
}
