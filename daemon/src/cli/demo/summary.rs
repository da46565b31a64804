//! How the tour ends: the job's outcome per account, checked against what
//! the vendors (the sandbox) counted, and the age rule's step; printed as a
//! table or, with `--json`, as one JSON document.

use std::collections::BTreeMap;
use std::io::Write as _;

use sandbox::VendorStats;
use serde_json::{Value, json};

use super::age_rule::AgeStep;
use super::setup::OTP_AFTER_MS;
use crate::cli::recall::{Progress, print_summary};

/// Everything the tour saw, once the daemon and the sandbox are stopped.
pub(super) struct Summary<'a> {
    pub(super) job_id: i64,
    pub(super) matched: u64,
    /// The job at its end, as the daemon reports it.
    pub(super) progress: &'a Progress,
    /// Each account and what the sandbox counted of its vendor.
    pub(super) vendor_stats: &'a [(&'a str, &'a VendorStats)],
    /// Recall calls on an already-recalled message, over every vendor.
    pub(super) duplicates: u64,
    /// How many of those are expected: the daemon's calls on the pushes
    /// withdrawn by hand before the recall.
    pub(super) console_duplicates: u64,
    pub(super) age: &'a AgeStep,
    pub(super) elapsed: f64,
}

impl Summary<'_> {
    /// Whether the tour went as it should (the exit status).
    pub(super) fn ok(&self) -> bool {
        self.progress.state == "done"
            && self.progress.counts.failed == 0
            && self.duplicates == self.console_duplicates
            && self.age.ok()
    }

    /// The summary as one JSON document on stdout.
    pub(super) fn print_json(&self) -> anyhow::Result<()> {
        let Summary {
            job_id,
            matched,
            progress,
            vendor_stats,
            duplicates,
            age,
            elapsed,
            ..
        } = self;
        let accounts: BTreeMap<&String, Value> = progress
            .accounts
            .iter()
            .map(|(name, c)| {
                let sandbox = vendor_stats.iter().find(|(n, _)| n == name).map(|(_, s)| json!({"recalled": s.recalled, "duplicate_recalls": s.duplicate_recalls}));
                (name, json!({"total": c.total, "recalled": c.recalled, "already_recalled": c.already_recalled, "expired": c.expired, "failed": c.failed, "sandbox": sandbox}))
            })
            .collect();
        let summary = json!({
            "job_id": job_id, "state": progress.state, "matched": matched,
            "total": progress.counts.total, "recalled": progress.counts.recalled,
            "already_recalled": progress.counts.already_recalled, "expired": progress.counts.expired,
            "failed": progress.counts.failed, "pending": progress.counts.pending,
            "accounts": accounts, "duplicate_vendor_calls": duplicates, "elapsed_secs": elapsed,
            "age_rule": age, "ok": self.ok(),
        });
        println!("{}", serde_json::to_string_pretty(&summary)?);
        Ok(())
    }

    /// The summary as the tour's closing table and lines on stdout.
    pub(super) fn print_text(&self) -> anyhow::Result<()> {
        let Summary {
            progress,
            duplicates,
            console_duplicates,
            age,
            elapsed,
            ..
        } = self;
        let mut out = std::io::stdout().lock();
        writeln!(out)?;
        print_summary(progress, &mut out)?;
        writeln!(
            out,
            "\nvendor side (sandbox): every recalled message was recalled once; {duplicates} calls hit an already-withdrawn message (the {console_duplicates} withdrawn by hand)"
        )?;
        writeln!(
            out,
            "age rule {}: OTP {} on {} {} {:.1}s after sending (due after {:.1}s)",
            age.rule,
            age.remote_id,
            age.account,
            age.state,
            age.after_sending_ms as f64 / 1000.0,
            OTP_AFTER_MS as f64 / 1000.0
        )?;
        writeln!(out, "done in {elapsed:.1}s")?;
        Ok(())
    }
}
