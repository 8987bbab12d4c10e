//! The training history: one row per evaluation, as `history.csv`.

use std::fmt::Write as _;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::atomic::write_atomic;
use crate::Result;

/// One evaluation point. `loss` and `accuracy` are means over the training
/// batches since the previous row; `val_*` are on the evaluation set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryRow {
    pub step: u64,
    pub epoch: f64,
    pub loss: f64,
    pub accuracy: f64,
    pub val_loss: f64,
    pub val_accuracy: f64,
    /// ROC AUC on the evaluation set, for two classes.
    pub val_auc: Option<f64>,
    /// Training time so far, evaluation excluded.
    pub seconds: f64,
}

/// Writes the rows as CSV with a header, atomically.
pub fn write_csv(path: &Path, rows: &[HistoryRow]) -> Result<()> {
    let mut out = String::from("step,epoch,loss,accuracy,val_loss,val_accuracy,val_auc,seconds\n");
    for r in rows {
        let auc = r.val_auc.map(|a| format!("{a:.6}")).unwrap_or_default();
        let _ = writeln!(
            out,
            "{},{:.4},{:.6},{:.6},{:.6},{:.6},{auc},{:.3}",
            r.step, r.epoch, r.loss, r.accuracy, r.val_loss, r.val_accuracy, r.seconds
        );
    }
    Ok(write_atomic(path, out.as_bytes())?)
}
