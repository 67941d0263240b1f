// SPDX-License-Identifier: GPL-2.0

//! What the worker knows about each LUN and its medium ([`LunParams`]), and who a
//! log line is about ([`LunPrefix`]).

use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};

use crate::{block::exec::CmdError, scsi::sense::Retry};

/// LUNs a Bulk-Only device may have (GET MAX LUN answers at most 15).
pub(crate) const MAX_LUNS: usize = 16;

/// What the worker needs to know about a LUN to build its commands, and the
/// state of its medium.
pub(super) struct LunParams {
    /// log2 of the logical block size.
    pub(super) block_shift: AtomicU32,
    /// Logical blocks of the medium, as the disk has them (0 without one).
    pub(super) blocks: AtomicU64,
    /// A capacity (512-byte sectors) the disk is to take with the next request
    /// that ends (a quirk learned shrank it); 0 for none.
    pub(super) resize_to: AtomicU64,
    /// A volatile write cache: flushes become SYNCHRONIZE CACHE.
    pub(super) write_cache: AtomicBool,
    /// FUA writes (the queue has the FUA feature).
    pub(super) fua: AtomicBool,
    /// The medium is removable (INQUIRY RMB): its disk polls for changes.
    pub(super) removable: AtomicBool,
    /// A medium is present, as far as the driver knows.
    pub(super) medium: AtomicBool,
    /// The medium changed (UNIT ATTENTION 28/00, or appeared or went) since the
    /// disk events code last asked.
    pub(super) changed: AtomicBool,
    /// The medium changed under the disk and the LUN was not revalidated since:
    /// every read, write and flush fails (sd's `sdev->changed`), so that what a
    /// filesystem queued for the old medium never reaches the new one. Cleared
    /// when a revalidation (at the next open) reads the new medium.
    pub(super) stale: AtomicBool,
}

impl LunParams {
    pub(super) fn new() -> Self {
        Self {
            block_shift: AtomicU32::new(9),
            blocks: AtomicU64::new(0),
            resize_to: AtomicU64::new(0),
            write_cache: AtomicBool::new(false),
            fua: AtomicBool::new(false),
            removable: AtomicBool::new(false),
            medium: AtomicBool::new(false),
            changed: AtomicBool::new(false),
            stale: AtomicBool::new(false),
        }
    }

    /// Records what a failed command of the driver's own (media polling, a
    /// flush before a suspend, an eject) says about the medium, as
    /// [`LunParams::saw`] does for a request: its UNIT ATTENTION is the only
    /// news of a medium that went or changed, and a device tells it once.
    /// What its sense said, if it had sense.
    pub(super) fn saw_error(&self, e: &CmdError) -> Option<Retry> {
        let CmdError::Sense(Some(s)) = e else {
            return None;
        };
        let retry = s.retry();
        self.saw(retry);
        Some(retry)
    }

    /// Records what a command learned about the medium.
    pub(super) fn saw(&self, retry: Retry) {
        match retry {
            Retry::NoMedium => {
                if self.medium.swap(false, Ordering::AcqRel) {
                    // As sd's set_media_not_present(): a medium that went is
                    // a change, whatever comes next (QEMU reports a swap as
                    // MEDIUM NOT PRESENT alone, then GOOD).
                    if self.removable.load(Ordering::Acquire) {
                        self.stale.store(true, Ordering::Release);
                    }
                    self.changed.store(true, Ordering::Release);
                }
            }
            Retry::MediaChanged => {
                // As the SCSI midlayer: only a removable medium can have been
                // swapped; a fixed disk's UNIT ATTENTION is retried.
                if self.removable.load(Ordering::Acquire) {
                    self.stale.store(true, Ordering::Release);
                }
                self.changed.store(true, Ordering::Release);
            }
            _ => {}
        }
    }
}

/// Which LUN a log line is about, after the interface's `dev_*!` prefix:
/// `LUN 1: `, nothing for LUN 0 (a device with one LUN has only that one).
pub(super) struct LunPrefix(pub(super) u8);

impl kernel::fmt::Display for LunPrefix {
    fn fmt(&self, f: &mut kernel::fmt::Formatter<'_>) -> kernel::fmt::Result {
        match self.0 {
            0 => Ok(()),
            lun => kernel::fmt::Display::fmt(&format_args!("LUN {lun}: "), f),
        }
    }
}
