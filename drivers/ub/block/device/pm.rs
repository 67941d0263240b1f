// SPDX-License-Identifier: GPL-2.0

//! Teardown, resets by others, and power management of a device: when the
//! worker stops taking requests, waits, and starts again.
use core::sync::atomic::Ordering;
use kernel::{prelude::*, sync::Arc};

use super::{bound::UbDevice, lun::LunPrefix, state::State};
use crate::{
    bot::counters::Counter,
    kext::task::{flush_work, worker_queue},
    scsi::{cdb, sense::Retry},
};

impl UbDevice {
    /// Fails everything queued and everything that comes, waits for the worker
    /// and for any command from outside it (an ioctl, media polling) to finish,
    /// and releases the transport's USB resources: nothing is sent to the device
    /// once this returns, and nothing of the host controller's is kept (an open
    /// file can keep the device alive past the controller's removal). The disks
    /// must be deleted before this is called.
    pub(crate) fn shutdown(self: &Arc<Self>) {
        self.pending.lock().state = State::Gone;
        // Nothing more is sent: the command in flight, whose URBs the USB
        // core cancelled before it called the driver's disconnect, is not
        // recovered (no Bulk-Only or port reset), a chained one still
        // waiting ends within its poll interval whatever its caller allowed
        // (SG_IO may allow days), and the requests still queued fail at once.
        self.unbinding.store(true, Ordering::Release);
        // Let the worker drain (and fail) whatever is still queued.
        let _ = worker_queue().enqueue(self.clone());
        flush_work(&self.work);
        // Waits for the holder of the transport; a caller that comes later
        // finds it released.
        self.lock_io().release();
    }

    /// Someone is about to reset the device. If it is not our own worker (its
    /// recovery resets the device while it holds the transport), stop taking
    /// requests and wait for the one in progress.
    pub(crate) fn pre_reset(&self) {
        if self.resets.is_busy() {
            return;
        }
        {
            let mut p = self.pending.lock();
            p.state = p.state.reset_begins();
        }
        // The worker's request, and then a command from outside it, finish.
        flush_work(&self.work);
        drop(self.lock_io());
    }

    /// The reset is over. After someone else's reset the device starts afresh,
    /// so a device given up as dead gets another chance.
    pub(crate) fn post_reset(self: &Arc<Self>) {
        if self.resets.is_busy() {
            return;
        }
        self.restart(true);
    }

    /// Lets the worker run again after a pause; after a reset (`reset`), a
    /// device given up as dead gets another chance.
    fn restart(self: &Arc<Self>, reset: bool) {
        if reset {
            let mut io = self.lock_io();
            io.reset_by_others();
        }
        {
            let mut p = self.pending.lock();
            p.state = p.state.wakes();
        }
        let _ = worker_queue().enqueue(self.clone());
    }

    /// The device is about to be suspended. At run time the USB core only asks
    /// when nobody holds a PM reference, so no command is in flight; requests
    /// queued but not started refuse it. For system sleep, stop taking requests
    /// and wait for the one in progress. Either way, flush the write caches
    /// first: a device may lose power while suspended (bus power cut, port
    /// power off, a reset-resume), and with it what its cache held (sd does the
    /// same, at run time too). An autosuspend whose flush fails does not
    /// happen: the device stays awake with its cache.
    pub(crate) fn suspend(&self, auto: bool) -> Result {
        if auto {
            let p = self.pending.lock();
            if !p.requests.is_empty() || p.current.is_some() {
                return Err(EBUSY);
            }
            drop(p);
            self.flush_caches(true)?;
            self.stats.inc(Counter::Suspends);
            return Ok(());
        }
        {
            let mut p = self.pending.lock();
            p.state = p.state.sleeps();
        }
        flush_work(&self.work);
        // System sleep goes ahead whatever the device says.
        let _ = self.flush_caches(false);
        self.stats.inc(Counter::Suspends);
        Ok(())
    }

    /// SYNCHRONIZE CACHE to every LUN with a write cache and a medium, before
    /// a suspend; `auto` for a runtime suspend. `EBUSY` if one failed.
    fn flush_caches(&self, auto: bool) -> Result {
        let mut io = self.lock_io();
        let mut failed = false;
        for (lun, p) in (0u8..).zip(self.luns.iter()) {
            if p.write_cache.load(Ordering::Relaxed) && p.medium.load(Ordering::Relaxed) {
                if let Err(e) = io.data_in(lun, &cdb::synchronize_cache_10(0, 0, false), 0) {
                    failed = true;
                    // A card swapped as the reader goes to sleep: the flush
                    // carries the news, which the next poll and open need.
                    // Nothing is flushed, and the suspend is tried again.
                    if matches!(p.saw_error(&e), Some(Retry::NoMedium | Retry::MediaChanged)) {
                        continue;
                    }
                    io.request_error(fmt!(
                        "{}cache flush before {} failed: {:?}{}\n",
                        LunPrefix(lun),
                        if auto { "autosuspend" } else { "suspend" },
                        e,
                        if auto { "; staying awake" } else { "" }
                    ));
                }
            }
        }
        if failed {
            Err(EBUSY)
        } else {
            Ok(())
        }
    }

    /// The device resumed; `reset` if it was reset meanwhile (then a removable
    /// medium may have been changed while it was off).
    pub(crate) fn resume(self: &Arc<Self>, reset: bool) {
        if reset {
            for p in self.luns.iter() {
                if p.removable.load(Ordering::Relaxed) {
                    p.changed.store(true, Ordering::Release);
                }
            }
        }
        self.stats.inc(if reset {
            Counter::ResetResumes
        } else {
            Counter::Resumes
        });
        self.restart(reset);
    }

    /// The transport found the device gone: every queued and future request
    /// fails (`ENODEV`); logged by the caller.
    pub(super) fn gone(&self) {
        self.pending.lock().state = State::Gone;
    }
}
