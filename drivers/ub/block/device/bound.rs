// SPDX-License-Identifier: GPL-2.0

//! The bound device ([`UbDevice`]): its transport under the I/O lock, the
//! requests waiting for it, the state of its LUNs, and the worker that runs the
//! requests one at a time (BOT allows one command in flight per device,
//! whatever the LUN).

use core::sync::atomic::{AtomicBool, Ordering};
use kernel::{
    new_mutex, new_spinlock, new_work,
    prelude::*,
    sync::{Arc, Mutex, SpinLock},
    workqueue::{impl_has_work, Work, WorkItem},
};

use super::{
    lun::{LunParams, MAX_LUNS},
    pending::{Pending, QUEUE_DEPTH},
    state::{Access, State},
};
use crate::{
    block::{
        exec::{Executor, ExecutorLock},
        probe::LunInfo,
    },
    bot::{counters::Counters, quirks::Quirks, Bot, Recovery, Setup},
    kext::{
        blk::Status,
        task::{now_ns, NoIoScope},
        usb::{AutoPm, Endpoint, Interface, InterfaceRef, PortReset},
    },
    scsi::inquiry::{self, INQUIRY_STD_LEN},
};

/// One bound USB mass-storage device.
#[pin_data]
pub(crate) struct UbDevice {
    /// The transport and its buffers: one command at a time (BOT allows no
    /// more). Lock order: this lock, then `pending`, never the other way
    /// round; whoever holds it is in a no-I/O allocation scope ([`ExecutorLock`]).
    /// The kernel layer's `PortReset` lock, taken by a port reset under
    /// this one, comes after it.
    #[pin]
    pub(super) io: Mutex<Executor>,
    /// The requests waiting for the worker and the device's [`State`]: a
    /// spinlock, for `queue_rq` and the request timeout (atomic context),
    /// which take nothing else. Held only for a few instructions.
    #[pin]
    pub(super) pending: SpinLock<Pending>,
    #[pin]
    pub(super) work: Work<UbDevice>,
    /// Per LUN, set before its disk is added.
    pub(super) luns: [LunParams; MAX_LUNS],
    /// The device's quirks, for revalidating a LUN after a media change.
    pub(super) quirks: Quirks,
    /// The worker is resetting the device itself: the reset callbacks must not
    /// wait for it.
    pub(super) resets: Arc<PortReset>,
    /// The transport's unbinding flag ([`Bot::is_unbinding`]), set without
    /// its lock.
    pub(super) unbinding: Arc<AtomicBool>,
    /// A disk was opened: a device given up is tried again with the next command.
    pub(super) retry_now: AtomicBool,
    /// The counters, shared with the transport and sysfs.
    pub(super) stats: Arc<Counters>,
    /// The interface, for runtime PM.
    pub(super) intf: InterfaceRef,
    /// A request that finds the device idle has its first try run in
    /// `queue_rq` (the `direct` parameter).
    pub(super) direct: bool,
    /// Quirk I: the INQUIRY data a probe uses instead of asking.
    fixed_inquiry: Option<[u8; INQUIRY_STD_LEN]>,
    /// Quirk n: the last READ worked, so a failing one is tried again at
    /// once. Read and written by the request that holds the transport.
    pub(super) read_worked: AtomicBool,
}

impl_has_work! {
    impl HasWork<Self> for UbDevice { self.work }
}

impl WorkItem for UbDevice {
    type Pointer = Arc<UbDevice>;

    fn run(this: Arc<UbDevice>) {
        let _noio = NoIoScope::enter();
        // Held while there is work: the device is resumed for it and not
        // autosuspended under it; dropped when the queue is empty.
        let mut pm: Option<AutoPm> = None;
        // `Pending::running` is this run's: it took a request to run.
        let mut running = false;
        loop {
            let (q, state) = {
                let mut p = this.pending.lock();
                let failing = p.state.fails_requests();
                // A request run in `queue_rq` has the device; that call
                // queues this work again when it is done, if requests wait.
                let direct = p.running && !running;
                let taken =
                    if p.requests.is_empty() || !p.state.worker_takes() || direct && !failing {
                        None
                    } else {
                        p.requests.remove(0).ok()
                    };
                let Some(q) = taken else {
                    if running {
                        p.running = false;
                    }
                    break;
                };
                // A request failed at once is not run.
                if !failing {
                    p.running = true;
                    running = true;
                }
                (q, p.state)
            };
            match state {
                s if s.fails_requests() => q.rq.end(Status::Offline),
                _ => {
                    if pm.is_none() {
                        // Without the reference the command is still tried: a
                        // device that cannot resume fails it and is recovered.
                        pm = this
                            .intf
                            .autopm_get()
                            .inspect_err(|e| {
                                dev_warn!(
                                    this.intf.device(),
                                    "resume failed (error {})\n",
                                    e.to_errno()
                                )
                            })
                            .ok();
                    }
                    // Only the direct path gets a request back.
                    let _ = this.run_request(q, None);
                }
            }
        }
    }
}

impl UbDevice {
    /// Sets up the device of `intf`: transport, buffers, worker. Nothing is sent.
    /// `direct`: a request that finds the device idle is run in `queue_rq`.
    pub(crate) fn new(
        intf: &Interface,
        reset: Arc<PortReset>,
        bulk_in: Endpoint,
        bulk_out: Endpoint,
        setup: Setup,
        direct: bool,
    ) -> Result<Arc<Self>> {
        let quirks = setup.quirks;
        let udev = intf.usb_device();
        let stats = Arc::new(Counters::new(), GFP_KERNEL)?;
        let bot = Bot::new(
            intf,
            reset,
            udev.bulk_pipe(bulk_in),
            udev.bulk_pipe(bulk_out),
            &setup,
            stats.clone(),
        )?;
        let rec =
            Recovery::new(setup.port_reset_first || quirks.contains(Quirks::PORT_RESET_FIRST));
        let io = Executor::new(bot, rec, quirks)?;
        let resets = io.port_resets();
        let unbinding = io.unbinding_flag();
        Arc::pin_init(
            try_pin_init!(Self {
                io <- new_mutex!(io),
                pending <- new_spinlock!(Pending {
                    requests: KVec::with_capacity(QUEUE_DEPTH as usize, GFP_KERNEL)?,
                    current: None,
                    running: false,
                    progress_ns: now_ns(),
                    state: State::Running,
                }),
                work <- new_work!("UbDevice::work"),
                luns: core::array::from_fn(|_| LunParams::new()),
                quirks,
                resets,
                unbinding,
                retry_now: AtomicBool::new(false),
                stats,
                intf: intf.get_ref(),
                direct,
                fixed_inquiry: quirks
                    .contains(Quirks::FIX_INQUIRY)
                    .then(|| inquiry::made_up(udev.manufacturer(), udev.product(), udev.release())),
                read_worked: AtomicBool::new(false),
            }),
            GFP_KERNEL,
        )
    }

    /// Quirk I: the INQUIRY data a probe of this device uses instead of
    /// asking it.
    pub(crate) fn fixed_inquiry(&self) -> Option<&[u8; INQUIRY_STD_LEN]> {
        self.fixed_inquiry.as_ref()
    }

    /// The device's counters.
    pub(crate) fn counters(&self) -> &Arc<Counters> {
        &self.stats
    }

    /// Locks the transport (see [`ExecutorLock`]). Lock order: the transport lock
    /// before the pending-requests lock, never the other way round.
    pub(super) fn lock_io(&self) -> ExecutorLock<'_> {
        ExecutorLock::lock(&self.io)
    }

    /// Locks the transport if nobody holds it.
    pub(super) fn try_lock_io(&self) -> Option<ExecutorLock<'_>> {
        ExecutorLock::try_lock(&self.io)
    }

    /// Runs `f` with the transport, for probing.
    pub(crate) fn with_io<R>(&self, f: impl FnOnce(&mut Executor) -> R) -> R {
        f(&mut self.lock_io())
    }

    /// Runs `f` with the transport for a command from outside the worker (media
    /// polling, eject, door lock, passthrough), with the device resumed: `ENODEV`
    /// once it is torn down, `EBUSY` while it is being reset by someone else or
    /// suspended for system sleep (a device given up fails its commands at once,
    /// or is tried again if its backoff is over). The state is checked again once the
    /// lock is held: a caller that waited for it while the interface was unbound
    /// must not send anything.
    pub(super) fn with_usable_io<R>(
        &self,
        f: impl FnOnce(&mut Executor) -> Result<R>,
    ) -> Result<R> {
        if self.access() == Access::Gone {
            return Err(ENODEV);
        }
        // Resuming may allocate and wait: in the scope as well. Scopes nest and
        // must end in reverse order: locals drop in reverse, the lock's first.
        let _noio = NoIoScope::enter();
        let _pm = self.intf.autopm_get()?;
        let mut io = self.lock_io();
        match self.access() {
            Access::Go => {}
            Access::Busy => return Err(EBUSY),
            Access::Gone => return Err(ENODEV),
        }
        self.take_retry_now(&mut io);
        f(&mut io)
    }

    /// After an open, a device given up is tried again at once.
    pub(super) fn take_retry_now(&self, io: &mut Executor) {
        if self.retry_now.swap(false, Ordering::AcqRel) {
            io.retry_now();
        }
    }

    /// What a command from outside the worker may do now.
    fn access(&self) -> Access {
        self.pending.lock().state.access()
    }
    /// Makes room for the requests of `luns` disks; called before any disk exists.
    pub(crate) fn reserve_luns(&self, luns: usize) -> Result {
        let room = KVec::with_capacity(QUEUE_DEPTH as usize * luns, GFP_KERNEL)?;
        let mut p = self.pending.lock();
        if p.requests.is_empty() {
            p.requests = room;
        }
        Ok(())
    }

    /// Sets what the worker needs to know about `lun` before its disk is added.
    pub(crate) fn set_lun_params(&self, lun: u8, block_size: u32, info: &LunInfo) {
        if let Some(l) = self.luns.get(usize::from(lun)) {
            l.block_shift
                .store(block_size.trailing_zeros(), Ordering::Relaxed);
            l.write_cache.store(info.write_cache, Ordering::Relaxed);
            l.fua.store(info.fua, Ordering::Relaxed);
            l.removable.store(info.removable, Ordering::Relaxed);
            l.medium.store(info.capacity.is_some(), Ordering::Relaxed);
            l.blocks.store(
                info.capacity.as_ref().map_or(0, |c| c.blocks),
                Ordering::Relaxed,
            );
            l.changed.store(false, Ordering::Relaxed);
            l.stale.store(false, Ordering::Relaxed);
        }
    }
}
