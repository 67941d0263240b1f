// SPDX-License-Identifier: GPL-2.0

//! Per-device counters: what the transport did and what went wrong, read in the
//! sysfs directory `ub_stats/` of the bound interface (one file per counter, named
//! by [`Counter::name`]; Documentation/ub.rst lists them).
//!
//! The counters are atomics in an `Arc` shared by the transport, the recovery code
//! and the sysfs files, so reading them never waits for a command in flight. They
//! count from the bind and are never reset: a test reads them before and after
//! what it does.

use core::sync::atomic::{AtomicU64, Ordering};

use kernel::prelude::*;

use crate::kext::usb::SysfsCounters;

/// One counter; the discriminant is its index in [`Counter::ALL`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub(crate) enum Counter {
    /// Commands sent (a CBW was attempted), the driver's own included.
    Commands,
    /// Bytes moved device to host in data stages.
    BytesIn,
    /// Bytes moved host to device in data stages.
    BytesOut,
    /// Commands that ended with status 1 (CHECK CONDITION).
    CheckConditions,
    /// Passed commands whose data stage moved less than asked (a residue).
    Residues,
    /// Stages that timed out and were cancelled.
    Timeouts,
    /// Endpoint stalls seen in a data or CSW stage.
    Stalls,
    /// CSWs with status 2 (phase error) or an undefined status.
    PhaseErrors,
    /// CSWs of the wrong length or signature.
    BadCsws,
    /// CSWs answering another command (tag mismatch).
    TagMismatches,
    /// CSWs reporting a residue larger than the transfer.
    BadResidues,
    /// Other USB errors (babble, CRC, short CBW, mapping failures).
    UsbErrors,
    /// Commands that found the device gone.
    Gone,
    /// Recoveries started (a command ended without a valid CSW).
    Recoveries,
    /// Bulk-Only Mass Storage Resets sent.
    BulkResets,
    /// Halts cleared (CLEAR_FEATURE(ENDPOINT_HALT)), in commands and recoveries.
    ClearHalts,
    /// USB port resets asked for by the driver.
    PortResets,
    /// Times the device was given up as dead.
    Dead,
    /// SCSI commands passed through `SG_IO`.
    Passthrough,
    /// System or runtime suspends.
    Suspends,
    /// Resumes, after which the device kept its state.
    Resumes,
    /// Resumes after which the device had been reset (`reset_resume`).
    ResetResumes,
    /// Writes sent with FUA (Force Unit Access) set.
    FuaWrites,
    /// Commands whose stages were sent and waited for one at a time (the USB
    /// core's synchronous calls) instead of chained from URB completions:
    /// `pipeline=0`, a host controller without scatter-gather, or a quirk.
    StepwiseCommands,
    /// Data stages mapped for DMA (`usb_buffer_map_sg`): one per command with
    /// a data stage, whatever its segments.
    SgMaps,
    /// Block requests whose first try ran in `queue_rq`, which found the
    /// device idle, without a hand-over to the device's worker (a try that
    /// left a retry or a recovery hands the rest to it).
    DirectRequests,
}

impl Counter {
    /// Every counter, in the order of the discriminants.
    const ALL: [Counter; COUNTERS] = [
        Counter::Commands,
        Counter::BytesIn,
        Counter::BytesOut,
        Counter::CheckConditions,
        Counter::Residues,
        Counter::Timeouts,
        Counter::Stalls,
        Counter::PhaseErrors,
        Counter::BadCsws,
        Counter::TagMismatches,
        Counter::BadResidues,
        Counter::UsbErrors,
        Counter::Gone,
        Counter::Recoveries,
        Counter::BulkResets,
        Counter::ClearHalts,
        Counter::PortResets,
        Counter::Dead,
        Counter::Passthrough,
        Counter::Suspends,
        Counter::Resumes,
        Counter::ResetResumes,
        Counter::FuaWrites,
        Counter::StepwiseCommands,
        Counter::SgMaps,
        Counter::DirectRequests,
    ];

    /// Checked at build time: `ALL[i]` is the counter with discriminant `i`.
    const _ORDERED: () = {
        let mut i = 0;
        while i < COUNTERS {
            assert!(Counter::ALL[i] as usize == i);
            i += 1;
        }
    };

    /// The name of its file in `ub_stats/`.
    pub(crate) fn name(self) -> &'static CStr {
        match self {
            Counter::Commands => c"commands",
            Counter::BytesIn => c"bytes_in",
            Counter::BytesOut => c"bytes_out",
            Counter::CheckConditions => c"check_conditions",
            Counter::Residues => c"residues",
            Counter::Timeouts => c"timeouts",
            Counter::Stalls => c"stalls",
            Counter::PhaseErrors => c"phase_errors",
            Counter::BadCsws => c"bad_csws",
            Counter::TagMismatches => c"tag_mismatches",
            Counter::BadResidues => c"bad_residues",
            Counter::UsbErrors => c"usb_errors",
            Counter::Gone => c"gone",
            Counter::Recoveries => c"recoveries",
            Counter::BulkResets => c"bulk_resets",
            Counter::ClearHalts => c"clear_halts",
            Counter::PortResets => c"port_resets",
            Counter::Dead => c"dead",
            Counter::Passthrough => c"passthrough",
            Counter::Suspends => c"suspends",
            Counter::Resumes => c"resumes",
            Counter::ResetResumes => c"reset_resumes",
            Counter::FuaWrites => c"fua_writes",
            Counter::StepwiseCommands => c"stepwise_commands",
            Counter::SgMaps => c"sg_maps",
            Counter::DirectRequests => c"direct_requests",
        }
    }
}

/// How many counters there are (the last discriminant plus one).
pub(crate) const COUNTERS: usize = Counter::DirectRequests as usize + 1;

/// The counters of one device.
pub(crate) struct Counters([AtomicU64; COUNTERS]);

impl Counters {
    /// All zero.
    pub(crate) fn new() -> Self {
        Self(core::array::from_fn(|_| AtomicU64::new(0)))
    }

    /// Adds `n` to `c`.
    pub(crate) fn add(&self, c: Counter, n: u64) {
        if let Some(v) = self.0.get(c as usize) {
            v.fetch_add(n, Ordering::Relaxed);
        }
    }

    /// Adds one to `c`.
    pub(crate) fn inc(&self, c: Counter) {
        self.add(c, 1);
    }
}

impl SysfsCounters for Counters {
    const COUNT: usize = COUNTERS;

    fn name(index: usize) -> &'static CStr {
        let () = Counter::_ORDERED;
        Counter::ALL.get(index).map_or(c"", |c| c.name())
    }

    /// The value of counter number `index`; 0 for an index out of range.
    fn read(&self, index: usize) -> u64 {
        self.0.get(index).map_or(0, |v| v.load(Ordering::Relaxed))
    }
}
