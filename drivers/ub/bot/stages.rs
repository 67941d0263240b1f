// SPDX-License-Identifier: GPL-2.0

//! The command chain's decisions, apart from its URBs and atomics
//! ([`super::chain`]): which stage a completion handler chains next, which
//! completions must have reported before the URBs are reused, and how long the
//! stage in flight may still take. Pure; tested on the host.

use crate::scsi::cbw::CBW_LEN;

// Stages, and the index of each one's URB in the set.
pub(crate) const CBW: u8 = 0;
pub(crate) const DATA: u8 = 1;
pub(crate) const CSW: u8 = 2;

// Data stages (what a command plans).
pub(crate) const NO_DATA: u8 = 0;
pub(crate) const DATA_OUT: u8 = 1;
pub(crate) const DATA_IN: u8 = 2;

/// The bit of `stage` in a set of stages that reported.
pub(crate) const fn bit(stage: u8) -> u8 {
    1 << stage
}

/// What a completion handler does next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Next {
    /// Submit this stage's URB (the chain ends if the core refuses it).
    Submit(u8),
    /// This stage, queued behind the CBW already, is in flight now.
    InFlight(u8),
    /// End the chain: the caller takes it from here, stage by stage.
    Finish,
}

/// After the CBW's completion with `status` and `actual` bytes taken, for a
/// command whose data stage is `plan` (its URB queued behind the CBW already
/// when `data_sent`): a stage is chained only when the device took the whole
/// CBW.
pub(crate) fn after_cbw(plan: u8, data_sent: bool, status: i32, actual: usize) -> Next {
    if status != 0 || actual != CBW_LEN {
        return Next::Finish;
    }
    match plan {
        NO_DATA => Next::Submit(CSW),
        DATA_OUT | DATA_IN if data_sent => Next::InFlight(DATA),
        DATA_IN => Next::Submit(DATA),
        // A write's data always goes behind its CBW; not there, its
        // submission failed and the chain has nothing to wait for.
        _ => Next::Finish,
    }
}

/// After the data stage's completion with `status` and `actual` of `len`
/// bytes moved: the CSW only when all of them moved (a short transfer is the
/// CSW's residue to explain, read stage by stage).
pub(crate) fn after_data(status: i32, actual: usize, len: u32) -> Next {
    let whole = u32::try_from(actual).is_ok_and(|a| a == len);
    if status == 0 && whole {
        Next::Submit(CSW)
    } else {
        Next::Finish
    }
}

/// The stages whose completions a command with data stage `plan` waits for.
pub(crate) const fn planned(plan: u8) -> u8 {
    if plan == NO_DATA {
        bit(CBW) | bit(CSW)
    } else {
        bit(CBW) | bit(DATA) | bit(CSW)
    }
}

/// Whether the stages in `reported` include every one in `planned`: a device
/// may answer the data and CSW of a read queued behind its CBW before the
/// CBW's completion runs, and the URBs are reusable only once all have.
pub(crate) const fn all_reported(reported: u8, planned: u8) -> bool {
    reported & planned == planned
}

/// Nanoseconds the stage in flight may still take at `now_ns`: what is left
/// of its own limit (`limit_ms` from `since_ns`, when it was submitted) or
/// of the command's deadline, whichever ends first; zero or less when it ran
/// out. A clock read before `since_ns` counts as no time elapsed.
pub(crate) fn left_ns(limit_ms: u32, since_ns: i64, deadline_ns: i64, now_ns: i64) -> i64 {
    let elapsed = now_ns.saturating_sub(since_ns).max(0);
    (i64::from(limit_ms) * 1_000_000 - elapsed).min(deadline_ns.saturating_sub(now_ns))
}

/// How long to sleep before looking again, in ms: `left_ns` rounded up (a
/// wait never ends before the time it stands for), at most `poll_ms`.
pub(crate) fn wait_ms(left_ns: i64, poll_ms: u32) -> u32 {
    u32::try_from(left_ns.saturating_add(999_999) / 1_000_000)
        .unwrap_or(u32::MAX)
        .min(poll_ms)
}
