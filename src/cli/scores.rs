//! The scores `eval` and `baseline` print: one metrics block, as text or as JSON keys.

use rrcanet::metrics::Scores;
use serde_json::{json, Value};

/// The scores as a JSON object (`fa_legacy`: Fa in the reference code's convention).
pub fn json(scores: &Scores) -> Value {
    let (m, legacy, roc) = (&scores.metrics, &scores.legacy_metrics, &scores.roc);
    json!({
        "images": m.images, "iou": m.iou, "niou": m.niou, "pd": m.pd, "fa": m.fa,
        "targets": m.targets, "matched": m.matched, "false_alarm_pixels": m.false_alarm_pixels,
        "pixels": m.pixels, "intersection": m.intersection, "union": m.union,
        "fa_legacy": legacy.fa, "roc_auc": roc.auc,
    })
}

/// Prints the scores as indented lines.
pub fn print(scores: &Scores) {
    let (m, legacy, roc) = (&scores.metrics, &scores.legacy_metrics, &scores.roc);
    println!("  IoU   {:.4}", m.iou);
    println!("  nIoU  {:.4}", m.niou);
    println!(
        "  Pd    {:.4}  ({} of {} targets)",
        m.pd, m.matched, m.targets
    );
    println!(
        "  Fa    {:.3e}  ({} of {} pixels)",
        m.fa, m.false_alarm_pixels, m.pixels
    );
    println!(
        "  Fa    {:.3e}  (legacy convention of the reference code)",
        legacy.fa
    );
    println!("  pixel ROC AUC {:.4}", roc.auc);
}
