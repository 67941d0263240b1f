// SPDX-License-Identifier: GPL-2.0

//! The time limits of one command ([`Timeouts`]): a timeout per stage, read as
//! the command starts (sysfs may change them), and the deadline of the block
//! request it serves, which cuts every stage short.

use crate::kext::task::now_ns;

/// Per-stage timeouts in milliseconds (module parameters, read at probe).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Timeouts {
    /// Sending the CBW.
    pub(crate) cbw_ms: u32,
    /// The data stage.
    pub(crate) data_ms: u32,
    /// Receiving the CSW (the device may be writing its cache meanwhile).
    pub(crate) csw_ms: u32,
    /// Control requests: GET MAX LUN, Bulk-Only reset, clear halt, and every stage
    /// of the TEST UNIT READY that checks a device after a reset.
    pub(crate) ctrl_ms: u32,
    /// The time a block request may take in all, retries and recovery included:
    /// the default of its queue's `io_timeout`.
    pub(crate) io_ms: u32,
    /// When the whole command must be over (`ktime_get()` nanoseconds; `i64::MAX`
    /// for none): a block request's deadline. Every stage ends by then, whatever
    /// its own timeout says.
    pub(crate) deadline_ns: i64,
}

impl Timeouts {
    /// All stages bounded by the control timeout: for the command that checks
    /// whether a reset brought the device back.
    pub(super) fn short(&self) -> Self {
        Self {
            cbw_ms: self.ctrl_ms,
            data_ms: self.ctrl_ms,
            csw_ms: self.ctrl_ms,
            ctrl_ms: self.ctrl_ms,
            io_ms: self.io_ms,
            deadline_ns: self.deadline_ns,
        }
    }

    /// These timeouts with `ms` for the data and status stages: a command
    /// whose status comes when the device is done (a spin-up, a passthrough
    /// caller's own timeout).
    pub(crate) fn with_wait_ms(self, ms: u32) -> Self {
        Self {
            data_ms: ms,
            csw_ms: ms,
            ..self
        }
    }

    /// These timeouts, with every stage over by `deadline_ns` as well.
    pub(crate) fn by(self, deadline_ns: i64) -> Self {
        Self {
            deadline_ns,
            ..self
        }
    }

    /// A stage timeout of `ms`, cut to what is left before the deadline, and at
    /// least 1 ms: to the USB core's synchronous calls 0 means no timeout at all.
    pub(crate) fn left(&self, ms: u32) -> u32 {
        if self.deadline_ns == i64::MAX {
            return ms;
        }
        let left_ms = self.deadline_ns.saturating_sub(now_ns()) / 1_000_000;
        ms.min(u32::try_from(left_ms.max(1)).unwrap_or(u32::MAX))
    }

    /// Whether the deadline has passed.
    pub(crate) fn expired(&self) -> bool {
        self.deadline_ns != i64::MAX && now_ns() >= self.deadline_ns
    }
}
