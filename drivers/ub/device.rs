// SPDX-License-Identifier: GPL-2.0

//! One USB device bound to `ub`: its transport behind the I/O lock, the block
//! requests of all its LUNs waiting for it, the worker that runs them one at a time
//! (BOT allows one command in flight per device, whatever the LUN), the mapping of
//! each outcome to a block status, and teardown.
//!
//! Each LUN's disk queues into a [`LunQueue`]; its `queue_rq` (atomic context) only
//! appends the request, tagged with the LUN and its deadline, to [`Pending`] and
//! kicks the worker, a work item on the per-CPU high-priority workqueue
//! ([`worker_queue`]) that is never run twice at once; the worker builds the CDB,
//! maps the data and runs the command.
//!
//! Every request ends within its queue's `io_timeout` (the `io_timeout_ms`
//! parameter) of reaching the driver, whatever the device does: the commands
//! that move its data end by its deadline, and while it waits anywhere else
//! (queued, for the transport, during a recovery) it sits in [`Pending`], where
//! blk-mq's timeout takes it and completes it with `ETIMEDOUT`.

use core::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use kernel::{
    new_mutex, new_spinlock, new_work,
    prelude::*,
    str::CString,
    sync::{Arc, ArcBorrow, Mutex, MutexGuard, SpinLock},
    time::{delay::fsleep, Delta},
    workqueue::{impl_has_work, Work, WorkItem},
};

use crate::{
    blk::{DiskHandle, Expiry, Op, Passthrough, PtDir, QueueOps, Request, RequestId, Status},
    counters::{Counter, Counters},
    kext::{flush_work, worker_queue, NoIoScope, RateLimit},
    probe::{self, LunInfo},
    quirks::Quirks,
    recovery::Recovery,
    scsi::{
        cdb::{self, Cdb},
        inquiry::{self, INQUIRY_STD_LEN},
        provisioning::{unmap_params, UNMAP_PARAM_LEN},
        sense::{Retry, Sense},
        sense_len::{self, SenseLen},
    },
    transport::{Bot, Data, Fault, Outcome, Stage, Timeouts, TransportError},
    urb::now_ns,
    usb::{AutoPm, Endpoint, Interface, InterfaceRef},
    usbcore_sg::{DmaBuf, SgTable},
};

/// Scatterlist entries per request: 1 MiB in 4 KiB pages.
pub(crate) const MAX_SEGMENTS: u16 = 256;
/// Requests blk-mq may hand us per LUN before we complete one.
pub(crate) const QUEUE_DEPTH: u32 = 64;
/// LUNs a Bulk-Only device may have (GET MAX LUN answers at most 15).
pub(crate) const MAX_LUNS: usize = 16;
/// Bytes of the buffer for commands the driver issues itself (INQUIRY, sense...).
const CMD_BUF_LEN: usize = 512;
/// The most sense data the driver asks for (sd's `SCSI_SENSE_BUFFERSIZE`); how
/// much it asks a device for is learned ([`SenseLen`]).
const SENSE_MAX: usize = sense_len::LONG as usize;
/// Tries of a command whose sense says "retry" (UNIT ATTENTION, ABORTED COMMAND,
/// becoming ready, spun down).
const MAX_TRIES: u32 = 3;
/// Tries of a command that ends without a valid CSW: one recovery in between
/// (at most two resets), and one after the second failure, once the command has
/// failed, to leave the device in step for the next one.
const TRANSPORT_TRIES: u32 = 2;
/// How long a START STOP UNIT that spins a disk up may take (its CSW comes when
/// the disk is ready: no IMMED). USB hard disks take seconds.
const SPIN_UP_MS: u32 = 20_000;

/// What the transport lock protects: the transport, its recovery state and its
/// buffers.
pub(crate) struct Io {
    /// The Bulk-Only transport.
    pub(crate) bot: Bot,
    /// Recovery from commands that end without a valid CSW.
    pub(crate) rec: Recovery,
    /// Scatterlist for block requests and internal commands.
    pub(crate) sg: SgTable,
    /// DMA-able buffer for internal commands' data.
    pub(crate) buf: DmaBuf,
    /// Someone else is resetting the device (between `pre_reset` and
    /// `post_reset`): commands from outside the worker (media polling, eject)
    /// must wait for the next chance.
    pub(crate) foreign_reset: bool,
    /// The device is suspended for system sleep: no command may be sent.
    suspended: bool,
    /// Limits the per-request error lines: a broken medium fails every
    /// request, and the log must not drown in them (the counters count all).
    req_log: RateLimit,
    /// How much sense data REQUEST SENSE asks this device for.
    sense_len: SenseLen,
    /// Quirk I: the INQUIRY data the probe uses instead of asking.
    pub(crate) fixed_inquiry: Option<[u8; INQUIRY_STD_LEN]>,
    /// Quirk n: the last READ worked, so a failing one is tried again at once.
    read_worked: bool,
}

/// Why a command the driver issues did not deliver its data.
#[derive(Debug)]
pub(crate) enum CmdError {
    /// CHECK CONDITION, with the sense data if REQUEST SENSE worked.
    Sense(Option<Sense>),
    /// No valid CSW.
    Transport(TransportError),
}

/// The transport, locked, with the locking task in a [`NoIoScope`] for as long
/// as it holds the lock: whoever sends commands to the device (the worker, media
/// polling, eject, `SG_IO`, probe, suspend) may allocate memory meanwhile (the
/// USB core's synchronous calls do, with `GFP_KERNEL`), and reclaim must not
/// wait for writeback or swap on this very device while it holds the transport.
pub(crate) struct IoLock<'a> {
    // Dropped in this order: the lock is released before the scope is left.
    io: MutexGuard<'a, Io>,
    _noio: NoIoScope,
}

impl core::ops::Deref for IoLock<'_> {
    type Target = Io;

    fn deref(&self) -> &Io {
        &self.io
    }
}

impl core::ops::DerefMut for IoLock<'_> {
    fn deref_mut(&mut self) -> &mut Io {
        &mut self.io
    }
}

impl Io {
    /// Logs a line about a failed request, rate-limited per device (with a
    /// count of the lines suppressed).
    fn request_error(&mut self, line: core::fmt::Arguments<'_>) {
        let (print, missed) = self.req_log.allow();
        if missed > 0 {
            pr_err!(
                "{}: {} I/O error messages suppressed\n",
                &*self.bot.name,
                missed
            );
        }
        if print {
            pr_err!("{}", line);
        }
    }

    /// Runs a command with no data stage or a data-in stage of `len` bytes into
    /// `self.buf`, with auto-sense, recovering and retrying (a bounded number of
    /// times) when the transport fails. Returns the bytes received.
    pub(crate) fn data_in(&mut self, lun: u8, cdb: &Cdb, len: usize) -> Result<usize, CmdError> {
        let mut tries = 0;
        loop {
            tries += 1;
            let out = if len == 0 {
                self.bot.command(lun, cdb, Data::None, 0)
            } else {
                let seg = self.sg.one(&mut self.buf, len).map_err(|_| {
                    CmdError::Transport(TransportError::Broken(Stage::Data, Fault::Usb))
                })?;
                self.bot.command(lun, cdb, Data::In(seg), len as u32)
            };
            match out {
                Ok(Outcome::Passed { residue }) => {
                    self.rec.succeeded();
                    return Ok(len.saturating_sub(residue as usize));
                }
                Ok(Outcome::Failed { .. }) => {
                    self.rec.succeeded();
                    return Err(CmdError::Sense(self.request_sense(lun)));
                }
                Err(e) => {
                    let recovered = self.rec.recover(&mut self.bot, lun, cdb, len as u32, e);
                    if recovered.is_err() || tries >= TRANSPORT_TRIES {
                        return Err(CmdError::Transport(e));
                    }
                }
            }
        }
    }

    /// START STOP UNIT (start) for a LUN that said NOT READY, INITIALIZING
    /// COMMAND REQUIRED: a USB hard disk that spun down, which sd's spin-up wakes
    /// the same way. Waited for (no IMMED), up to [`SPIN_UP_MS`]. Whether the
    /// unit started.
    pub(crate) fn start_unit(&mut self, lun: u8) -> bool {
        pr_info!(
            "{}: LUN {}: spinning up (START STOP UNIT)\n",
            &*self.bot.name,
            lun
        );
        let cdb = cdb::start_stop_unit(true, false, false);
        match self.bot.command_timed(lun, &cdb, Data::None, 0, SPIN_UP_MS) {
            Ok(Outcome::Passed { .. }) => {
                self.rec.succeeded();
                true
            }
            Ok(Outcome::Failed { .. }) => {
                self.rec.succeeded();
                let _ = self.request_sense(lun);
                false
            }
            Err(e) => {
                let _ = self.rec.recover(&mut self.bot, lun, &cdb, 0, e);
                false
            }
        }
    }

    /// REQUEST SENSE after a failed command (auto-sense). `None` when the device
    /// does not deliver sense data (a transport failure is recovered from first).
    pub(crate) fn request_sense(&mut self, lun: u8) -> Option<Sense> {
        let mut raw = [0u8; SENSE_MAX];
        let n = self.request_sense_raw(lun, &[], &mut raw);
        Sense::parse(raw.get(..n)?).ok()
    }

    /// REQUEST SENSE after command `failed` into `out` (18 bytes, or up to
    /// [`SENSE_MAX`] for a device that has shown it has more and after ATA
    /// PASS-THROUGH); returns the bytes received, 0 when the device delivers
    /// none. A device that fails a long REQUEST SENSE is asked for 18 bytes,
    /// now and from then on, as usb-storage does.
    fn request_sense_raw(&mut self, lun: u8, failed: &[u8], out: &mut [u8; SENSE_MAX]) -> usize {
        loop {
            let alloc = self.sense_len.alloc_len_after(failed);
            let len = usize::from(alloc);
            let Ok(seg) = self.sg.one(&mut self.buf, len) else {
                return 0;
            };
            let cdb = cdb::request_sense(alloc);
            match self.bot.command(lun, &cdb, Data::In(seg), len as u32) {
                Ok(Outcome::Passed { residue }) => {
                    self.rec.succeeded();
                    let n = len.saturating_sub(residue as usize).min(out.len());
                    for (o, b) in out.iter_mut().zip(self.buf.as_slice().iter().take(n)) {
                        *o = *b;
                    }
                    self.sense_len.sense_received(out.get(..n).unwrap_or(&[]));
                    return n;
                }
                Ok(Outcome::Failed { .. }) if alloc > sense_len::SHORT => {
                    self.rec.succeeded();
                    pr_info!(
                        "{}: REQUEST SENSE of {} bytes failed; asking for 18 from now on\n",
                        &*self.bot.name,
                        alloc
                    );
                    self.sense_len.long_failed();
                }
                Ok(Outcome::Failed { .. }) => return 0,
                Err(e) => {
                    if alloc > sense_len::SHORT {
                        self.sense_len.long_failed();
                    }
                    let _ = self.rec.recover(&mut self.bot, lun, &cdb, len as u32, e);
                    return 0;
                }
            }
        }
    }

    /// Runs a passthrough command once, without retries (the caller sees the
    /// status and decides), its data in `buf`. Returns the SCSI status (0 GOOD,
    /// 2 CHECK CONDITION), the residue and, after a CHECK CONDITION, the sense
    /// bytes and their count. `EIO` or `ENODEV` when no status came (the
    /// transport is recovered first).
    fn passthrough(
        &mut self,
        lun: u8,
        cdb: &Cdb,
        dir: PtDir,
        buf: &mut DmaBuf,
        timeout_ms: u32,
    ) -> Result<(u8, u32, [u8; SENSE_MAX], usize)> {
        let len = buf.as_slice().len();
        let out = if len == 0 || dir == PtDir::None {
            self.bot.command_timed(lun, cdb, Data::None, 0, timeout_ms)
        } else {
            let seg = self.sg.one(buf, len)?;
            let data = if dir == PtDir::In {
                Data::In(seg)
            } else {
                Data::Out(seg)
            };
            self.bot
                .command_timed(lun, cdb, data, len as u32, timeout_ms)
        };
        let mut sense = [0u8; SENSE_MAX];
        match out {
            Ok(Outcome::Passed { residue }) => {
                self.rec.succeeded();
                self.sense_len.command_passed(cdb.as_bytes());
                Ok((SAM_GOOD, residue, sense, 0))
            }
            Ok(Outcome::Failed { residue }) => {
                self.rec.succeeded();
                let n = self.request_sense_raw(lun, cdb.as_bytes(), &mut sense);
                Ok((SAM_CHECK_CONDITION, residue, sense, n))
            }
            Err(e) => {
                let r = self.rec.recover(&mut self.bot, lun, cdb, len as u32, e);
                Err(match (e, r) {
                    (TransportError::Gone, _) | (_, Err(TransportError::Gone)) => ENODEV,
                    _ => EIO,
                })
            }
        }
    }
}

/// SCSI status codes (SAM-5 5.3) a passthrough caller sees.
const SAM_GOOD: u8 = 0x00;
const SAM_CHECK_CONDITION: u8 = 0x02;

/// Whether the worker takes requests.
#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    /// Requests are served.
    Running,
    /// Someone else is resetting the device: requests wait.
    Paused,
    /// Teardown, unplug or a dead device: queued and new requests fail with this.
    Failing(Status),
}

/// A block request waiting for the worker.
struct Queued {
    rq: Request,
    lun: u8,
    /// Its queue's `io_timeout` when it came, in nanoseconds.
    timeout_ns: i64,
    /// When it came (`ktime_get()` nanoseconds).
    arrived_ns: i64,
}

/// Block requests waiting for the worker, and the one it runs while that one
/// waits between commands. blk-mq's timeout takes requests from here
/// ([`LunQueue::timed_out`]); never from the worker while their data moves.
///
/// A request's time limit runs from when the worker starts it. A request still
/// queued fails once its `io_timeout` has passed both since it came and since a
/// request last succeeded: behind others that complete, on a slow device with a
/// deep queue, it just waits; behind a device that answers nothing, it fails.
pub(crate) struct Pending {
    requests: KVec<Queued>,
    /// The worker's request between its commands, and its deadline.
    current: Option<(Request, i64)>,
    /// When a request last succeeded (`ktime_get()` ns).
    progress_ns: i64,
    state: State,
}

/// What the worker needs to know about a LUN to build its commands, and the
/// state of its medium.
struct LunParams {
    /// log2 of the logical block size.
    block_shift: AtomicU32,
    /// A volatile write cache: flushes become SYNCHRONIZE CACHE.
    write_cache: AtomicBool,
    /// FUA writes (the queue has the FUA feature).
    fua: AtomicBool,
    /// The medium is removable (INQUIRY RMB): its disk polls for changes.
    removable: AtomicBool,
    /// A medium is present, as far as the driver knows.
    medium: AtomicBool,
    /// The medium changed (UNIT ATTENTION 28/00, or appeared or went) since the
    /// disk events code last asked.
    changed: AtomicBool,
    /// The medium changed under the disk and the LUN was not revalidated since:
    /// every read, write and flush fails (sd's `sdev->changed`), so that what a
    /// filesystem queued for the old medium never reaches the new one. Cleared
    /// when a revalidation (at the next open) reads the new medium.
    stale: AtomicBool,
}

impl LunParams {
    fn new() -> Self {
        Self {
            block_shift: AtomicU32::new(9),
            write_cache: AtomicBool::new(false),
            fua: AtomicBool::new(false),
            removable: AtomicBool::new(false),
            medium: AtomicBool::new(false),
            changed: AtomicBool::new(false),
            stale: AtomicBool::new(false),
        }
    }

    /// Records what a command learned about the medium.
    fn saw(&self, retry: Retry) {
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

/// One bound USB mass-storage device.
#[pin_data]
pub(crate) struct UbDevice {
    /// The interface name (`1-1:1.0`), for log lines.
    name: CString,
    #[pin]
    io: Mutex<Io>,
    #[pin]
    pending: SpinLock<Pending>,
    #[pin]
    work: Work<UbDevice>,
    /// Per LUN, set before its disk is added.
    luns: [LunParams; MAX_LUNS],
    /// The device's quirks, for revalidating a LUN after a media change.
    quirks: Quirks,
    /// The worker is resetting the device itself: the reset callbacks must not
    /// wait for it.
    self_reset: Arc<AtomicBool>,
    /// A disk was opened: a device given up is tried again with the next command.
    retry_now: AtomicBool,
    /// The counters, shared with the transport and sysfs.
    stats: Arc<Counters>,
    /// The interface, for runtime PM.
    intf: InterfaceRef,
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
        loop {
            let (q, state) = {
                let mut p = this.pending.lock();
                if p.requests.is_empty() || p.state == State::Paused {
                    break;
                }
                match p.requests.remove(0) {
                    Ok(q) => (q, p.state),
                    Err(_) => break,
                }
            };
            match state {
                State::Failing(status) => q.rq.end(status),
                _ => {
                    if pm.is_none() {
                        // Without the reference the command is still tried: a
                        // device that cannot resume fails it and is recovered.
                        pm = this
                            .intf
                            .autopm_get()
                            .inspect_err(|e| {
                                pr_warn!(
                                    "{}: resume failed (error {})\n",
                                    &*this.name,
                                    e.to_errno()
                                )
                            })
                            .ok();
                    }
                    this.run_request(q);
                }
            }
        }
    }
}

/// The queue of one LUN's disk: where its requests enter the device.
pub(crate) struct LunQueue {
    dev: Arc<UbDevice>,
    lun: u8,
}

impl LunQueue {
    /// The queue of `lun` of `dev`.
    pub(crate) fn new(dev: &Arc<UbDevice>, lun: u8) -> Result<Arc<Self>> {
        Ok(Arc::new(
            Self {
                dev: dev.clone(),
                lun,
            },
            GFP_KERNEL,
        )?)
    }
}

impl QueueOps for LunQueue {
    fn open(&self, disk: &DiskHandle, ndelay: bool) -> Result {
        let Some(p) = self.dev.luns.get(usize::from(self.lun)) else {
            return Err(ENODEV);
        };
        // A new open is a new chance for a device that was given up.
        self.dev.retry_now.store(true, Ordering::Release);
        if !p.removable.load(Ordering::Acquire) {
            return Ok(());
        }
        // As sd does: a changed medium is revalidated at open, and a removable
        // disk without one can only be opened with O_NDELAY (eject, polling).
        if disk.check_media_change() {
            self.dev.revalidate(self.lun, disk);
        }
        if !p.medium.load(Ordering::Acquire) && !ndelay {
            return Err(ENOMEDIUM);
        }
        Ok(())
    }

    fn media_changed(&self) -> bool {
        let Some(p) = self.dev.luns.get(usize::from(self.lun)) else {
            return false;
        };
        // As sd does, a poll resumes a suspended device (with_usable_io takes a
        // PM reference): a card reader learns of a new card only by asking.
        // Between polls it may autosuspend again.
        if !p.removable.load(Ordering::Acquire) {
            return false;
        }
        let present = self
            .dev
            .with_usable_io(|io| {
                Ok(match io.data_in(self.lun, &cdb::test_unit_ready(), 0) {
                    Ok(_) => Some(true),
                    Err(CmdError::Sense(Some(s))) => {
                        let retry = s.retry();
                        p.saw(retry);
                        (retry == Retry::NoMedium).then_some(false)
                    }
                    Err(_) => None,
                })
            })
            .unwrap_or(None);
        if present == Some(true) && !p.medium.swap(true, Ordering::AcqRel) {
            p.changed.store(true, Ordering::Release);
        }
        p.changed.swap(false, Ordering::AcqRel)
    }

    fn eject(&self) -> Result {
        let lun = self.lun;
        let lockable = !self.dev.quirks.contains(Quirks::NOT_LOCKABLE);
        self.dev.with_usable_io(|io| {
            // Devices that lock their medium refuse the eject until unlocked.
            if lockable {
                let _ = io.data_in(lun, &cdb::prevent_allow_medium_removal(false), 0);
            }
            io.data_in(lun, &cdb::start_stop_unit(false, true, false), 0)
                .map(|_| ())
                .map_err(|e| {
                    pr_err!("{}: eject failed: {:?}\n", Who(&self.dev.name, lun), e);
                    EIO
                })
        })
    }

    fn lock_door(&self, lock: bool) -> Result {
        let lun = self.lun;
        // As sd: a device that is not lockable has nothing to lock.
        if self.dev.quirks.contains(Quirks::NOT_LOCKABLE) {
            return Ok(());
        }
        self.dev.with_usable_io(|io| {
            io.data_in(lun, &cdb::prevent_allow_medium_removal(lock), 0)
                .map(|_| ())
                .map_err(|_| EIO)
        })
    }

    fn timed_out(&self, id: RequestId) -> Expiry {
        let now = now_ns();
        let mut p = self.dev.pending.lock();
        let ms = |ns: i64| u32::try_from((ns + 999_999) / 1_000_000).unwrap_or(u32::MAX);
        if let Some(&(ref rq, deadline)) = p.current.as_ref() {
            if rq.id() == id {
                if now < deadline {
                    return Expiry::Later(ms(deadline - now));
                }
                return p
                    .current
                    .take()
                    .map_or(Expiry::Busy, |(rq, _)| Expiry::Expired(rq));
            }
        }
        let Some(at) = p.requests.iter().position(|q| q.rq.id() == id) else {
            return Expiry::Busy;
        };
        let Some(timeout_ns) = p.requests.get(at).map(|q| q.timeout_ns) else {
            return Expiry::Busy;
        };
        let since = p
            .requests
            .get(at)
            .map_or(0, |q| q.arrived_ns)
            .max(p.progress_ns);
        let stalled_at = since.saturating_add(timeout_ns);
        if now < stalled_at {
            return Expiry::Later(ms(stalled_at - now));
        }
        p.requests
            .remove(at)
            .map_or(Expiry::Busy, |q| Expiry::Expired(q.rq))
    }

    fn passthrough(&self, pt: &mut Passthrough<'_>) -> Result {
        let cdb = Cdb::from_bytes(pt.cdb()).map_err(|_| EINVAL)?;
        let dir = pt.dir();
        // Allocated before the transport lock is taken: reclaim may write to
        // this very device.
        let mut buf = DmaBuf::new(pt.data().len())?;
        if dir == PtDir::Out {
            for (d, s) in buf.as_mut_slice().iter_mut().zip(pt.data().iter()) {
                *d = *s;
            }
        }
        let timeout_ms = pt.timeout_ms();
        self.dev.stats.inc(Counter::Passthrough);
        let (status, resid, sense, n) = self
            .dev
            .with_usable_io(|io| io.passthrough(self.lun, &cdb, dir, &mut buf, timeout_ms))?;
        if dir == PtDir::In {
            for (d, s) in pt.data().iter_mut().zip(buf.as_slice().iter()) {
                *d = *s;
            }
        }
        pt.complete(status, resid, sense.get(..n).unwrap_or(&[]));
        Ok(())
    }

    fn queue_rq(&self, rq: Request) {
        let dev = &self.dev;
        let timeout_ns = i64::from(rq.timeout_ms()) * 1_000_000;
        let mut p = dev.pending.lock();
        if let State::Failing(status) = p.state {
            drop(p);
            rq.end(status);
            return;
        }
        let q = Queued {
            rq,
            lun: self.lun,
            timeout_ns,
            arrived_ns: now_ns(),
        };
        if let Err(err) = p.requests.push_within_capacity(q) {
            drop(p);
            // Cannot happen: the list has room for every tag of every LUN.
            err.0.rq.end(Status::Resource);
            return;
        }
        drop(p);
        // Already queued: it will see our request.
        let _ = worker_queue().enqueue(dev.clone());
    }
}

/// Who a log line is about: the interface, and the LUN unless it is 0.
struct Who<'a>(&'a CStr, u8);

impl kernel::fmt::Display for Who<'_> {
    fn fmt(&self, f: &mut kernel::fmt::Formatter<'_>) -> kernel::fmt::Result {
        kernel::fmt::Display::fmt(self.0, f)?;
        match self.1 {
            0 => Ok(()),
            lun => kernel::fmt::Display::fmt(&format_args!(" LUN {lun}"), f),
        }
    }
}

/// A Bulk-Only command name for log lines.
fn op_name(op: Op) -> &'static str {
    match op {
        Op::Read => "read",
        Op::Write => "write",
        Op::Flush => "flush",
        Op::Discard => "discard",
        Op::Other(_) => "unsupported",
    }
}

impl UbDevice {
    /// Sets up the device of `intf`: transport, buffers, worker. Nothing is sent.
    pub(crate) fn new(
        intf: &Interface,
        bulk_in: Endpoint,
        bulk_out: Endpoint,
        timeouts: Timeouts,
        quirks: Quirks,
        port_reset_first: bool,
        pipeline: bool,
    ) -> Result<Arc<Self>> {
        let udev = intf.usb_device();
        let stats = Arc::new(Counters::new(), GFP_KERNEL)?;
        let io = Io {
            bot: Bot::new(
                intf,
                udev.bulk_pipe(bulk_in),
                udev.bulk_pipe(bulk_out),
                timeouts,
                quirks,
                pipeline,
                stats.clone(),
            )?,
            rec: Recovery::new(port_reset_first || quirks.contains(Quirks::PORT_RESET_FIRST)),
            sg: SgTable::new(MAX_SEGMENTS.into())?,
            buf: DmaBuf::new(CMD_BUF_LEN)?,
            foreign_reset: false,
            suspended: false,
            req_log: RateLimit::new(),
            sense_len: SenseLen::new(
                quirks.contains(Quirks::SANE_SENSE),
                quirks.contains(Quirks::BAD_SENSE),
            ),
            fixed_inquiry: quirks
                .contains(Quirks::FIX_INQUIRY)
                .then(|| inquiry::made_up(udev.manufacturer(), udev.product(), udev.release())),
            read_worked: false,
        };
        let self_reset = io.bot.self_reset_flag();
        Arc::pin_init(
            try_pin_init!(Self {
                name: CString::try_from(intf.name())?,
                io <- new_mutex!(io),
                pending <- new_spinlock!(Pending {
                    requests: KVec::with_capacity(QUEUE_DEPTH as usize, GFP_KERNEL)?,
                    current: None,
                    progress_ns: now_ns(),
                    state: State::Running,
                }),
                work <- new_work!("UbDevice::work"),
                luns: core::array::from_fn(|_| LunParams::new()),
                quirks,
                self_reset,
                retry_now: AtomicBool::new(false),
                stats,
                intf: intf.get_ref(),
            }),
            GFP_KERNEL,
        )
    }

    /// The device's counters.
    pub(crate) fn counters(&self) -> &Arc<Counters> {
        &self.stats
    }

    /// The interface name.
    pub(crate) fn name(&self) -> &CStr {
        &self.name
    }

    /// Locks the transport (see [`IoLock`]). Lock order: the transport lock
    /// before the pending-requests lock, never the other way round.
    fn lock_io(&self) -> IoLock<'_> {
        let noio = NoIoScope::enter();
        IoLock {
            io: self.io.lock(),
            _noio: noio,
        }
    }

    /// Runs `f` with the transport, for probing.
    pub(crate) fn with_io<R>(&self, f: impl FnOnce(&mut Io) -> R) -> R {
        f(&mut self.lock_io())
    }

    /// Runs `f` with the transport for a command from outside the worker (media
    /// polling, eject, door lock, passthrough), with the device resumed: `ENODEV`
    /// once it is torn down, `EBUSY` while it is being reset by someone else or
    /// suspended for system sleep (a device given up fails its commands at once,
    /// or is tried again if its backoff is over). The state is checked again once the
    /// lock is held: a caller that waited for it while the interface was unbound
    /// must not send anything.
    fn with_usable_io<R>(&self, f: impl FnOnce(&mut Io) -> Result<R>) -> Result<R> {
        if self.is_failing() {
            return Err(ENODEV);
        }
        // Resuming may allocate and wait: in the scope as well. Scopes nest and
        // must end in reverse order: locals drop in reverse, the lock's first.
        let _noio = NoIoScope::enter();
        let _pm = self.intf.autopm_get()?;
        let mut io = self.lock_io();
        if io.bot.is_released() {
            return Err(ENODEV);
        }
        if io.foreign_reset || io.suspended {
            return Err(EBUSY);
        }
        self.take_retry_now(&mut io);
        f(&mut io)
    }

    /// After an open, a device given up is tried again at once.
    fn take_retry_now(&self, io: &mut Io) {
        if self.retry_now.swap(false, Ordering::AcqRel) {
            io.bot.retry_now();
        }
    }

    /// The probe is over: it no longer holds the USB device lock for the
    /// transport (see [`Bot::port_reset`]).
    pub(crate) fn probe_done(&self) {
        self.lock_io().bot.probing = false;
    }

    /// Whether queued and new requests fail (teardown, unplug).
    fn is_failing(&self) -> bool {
        matches!(self.pending.lock().state, State::Failing(_))
    }

    /// Probes `lun` again after its medium changed and updates its disk.
    fn revalidate(&self, lun: u8, disk: &DiskHandle) {
        let Some(p) = self.luns.get(usize::from(lun)) else {
            return;
        };
        let who = Who(&self.name, lun);
        let info = self.with_usable_io(|io| probe::probe_lun(io, lun, &self.name, self.quirks));
        let shift = p.block_shift.load(Ordering::Relaxed);
        match info.map(|i| (i.capacity, i.read_only, i.write_cache, i.fua)) {
            Ok((Some(cap), ro, wc, fua)) if cap.block_size.trailing_zeros() == shift => {
                disk.set_capacity(cap.bytes() >> 9);
                disk.set_read_only(ro);
                // Like capacity and write protection, the cache belongs to the
                // medium: a card with a volatile cache needs SYNCHRONIZE CACHE
                // even if the reader was probed empty.
                let was = p.write_cache.swap(wc, Ordering::AcqRel);
                let was_fua = p.fua.swap(fua, Ordering::AcqRel);
                if was != wc || was_fua != fua {
                    if let Err(e) = disk.set_write_cache(wc, fua) {
                        pr_warn!(
                            "{}: cannot update the queue's write cache setting (error {})\n",
                            who,
                            e.to_errno()
                        );
                    }
                }
                p.medium.store(true, Ordering::Release);
                p.stale.store(false, Ordering::Release);
                pr_info!(
                    "{}: new medium: {} {}-byte blocks ({} MiB){}, {}\n",
                    who,
                    cap.blocks,
                    cap.block_size,
                    cap.bytes() >> 20,
                    if ro { ", read-only" } else { "" },
                    if wc { "write cache" } else { "no write cache" }
                );
            }
            Ok((Some(cap), _, _, _)) => {
                // The queue limits are fixed while the disk exists.
                disk.set_capacity(0);
                p.medium.store(false, Ordering::Release);
                pr_warn!(
                    "{}: the new medium has {}-byte blocks, the disk {}: unbind and bind the device to use it\n",
                    who,
                    cap.block_size,
                    1u32 << shift
                );
            }
            Ok((None, _, _, _)) => {
                disk.set_capacity(0);
                p.medium.store(false, Ordering::Release);
                // Nothing to protect until a medium comes (and is revalidated).
                p.stale.store(false, Ordering::Release);
                pr_info!("{}: no medium\n", who);
            }
            Err(e) => {
                disk.set_capacity(0);
                p.medium.store(false, Ordering::Release);
                pr_err!(
                    "{}: the new medium cannot be used (error {})\n",
                    who,
                    e.to_errno()
                );
            }
        }
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
            l.changed.store(false, Ordering::Relaxed);
            l.stale.store(false, Ordering::Relaxed);
        }
    }

    /// Fails everything queued and everything that comes, waits for the worker
    /// and for any command from outside it (an ioctl, media polling) to finish,
    /// and releases the transport's USB resources: nothing is sent to the device
    /// once this returns, and nothing of the host controller's is kept (an open
    /// file can keep the device alive past the controller's removal). The disks
    /// must be deleted before this is called.
    pub(crate) fn shutdown(&self) {
        self.pending.lock().state = State::Failing(Status::Offline);
        // SAFETY: `self` lives in an `Arc`: devices are only created by `new`, which
        // returns one.
        let this: Arc<UbDevice> = unsafe { ArcBorrow::from_raw(self) }.into();
        // Let the worker drain (and fail) whatever is still queued.
        let _ = worker_queue().enqueue(this);
        flush_work(&self.work);
        // Waits for the holder of the transport, whose commands are bounded by
        // their timeouts; a caller that comes later finds it released.
        self.lock_io().bot.release();
    }

    /// Someone is about to reset the device. If it is not our own worker (its
    /// recovery resets the device while it holds the transport), stop taking
    /// requests and wait for the one in progress.
    pub(crate) fn pre_reset(&self) {
        if self.self_reset.load(Ordering::Acquire) {
            return;
        }
        {
            let mut p = self.pending.lock();
            if p.state == State::Running {
                p.state = State::Paused;
            }
        }
        flush_work(&self.work);
        self.lock_io().foreign_reset = true;
    }

    /// The reset is over. After someone else's reset the device starts afresh,
    /// so a device given up as dead gets another chance.
    pub(crate) fn post_reset(&self) {
        if self.self_reset.load(Ordering::Acquire) {
            return;
        }
        self.restart(true);
    }

    /// Lets the worker run again after a pause; after a reset (`reset`), a
    /// device given up as dead gets another chance.
    fn restart(&self, reset: bool) {
        {
            let mut io = self.lock_io();
            io.foreign_reset = false;
            io.suspended = false;
            if reset {
                io.bot.reset_by_others();
                io.rec.succeeded();
            }
        }
        {
            let mut p = self.pending.lock();
            if p.state == State::Paused || (reset && p.state == State::Failing(Status::IoErr)) {
                p.state = State::Running;
            }
        }
        // SAFETY: `self` lives in an `Arc`: devices are only created by `new`, which
        // returns one.
        let this: Arc<UbDevice> = unsafe { ArcBorrow::from_raw(self) }.into();
        let _ = worker_queue().enqueue(this);
    }

    /// The device is about to be suspended. At run time the USB core only asks
    /// when nobody holds a PM reference, so no command is in flight; requests
    /// queued but not started refuse it. For system sleep, stop taking requests,
    /// wait for the one in progress, and flush the write caches: a device that
    /// loses power in sleep loses its cache (sd does the same).
    pub(crate) fn suspend(&self, auto: bool) -> Result {
        if auto {
            let p = self.pending.lock();
            if !p.requests.is_empty() || p.current.is_some() {
                return Err(EBUSY);
            }
            drop(p);
            self.stats.inc(Counter::Suspends);
            return Ok(());
        }
        {
            let mut p = self.pending.lock();
            if p.state == State::Running {
                p.state = State::Paused;
            }
        }
        flush_work(&self.work);
        let mut io = self.lock_io();
        for (lun, p) in (0u8..).zip(self.luns.iter()) {
            if p.write_cache.load(Ordering::Relaxed) && p.medium.load(Ordering::Relaxed) {
                if let Err(e) = io.data_in(lun, &cdb::synchronize_cache_10(0, 0, false), 0) {
                    pr_warn!(
                        "{}: cache flush before suspend failed: {:?}\n",
                        Who(&self.name, lun),
                        e
                    );
                }
            }
        }
        io.suspended = true;
        self.stats.inc(Counter::Suspends);
        Ok(())
    }

    /// The device resumed; `reset` if it was reset meanwhile (then a removable
    /// medium may have been changed while it was off).
    pub(crate) fn resume(&self, reset: bool) {
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

    /// Fails every queued and future request with `status` (the device is
    /// gone); logged by the caller.
    fn fail_all(&self, status: Status) {
        let mut p = self.pending.lock();
        if p.state != State::Failing(Status::Offline) {
            p.state = State::Failing(status);
        }
    }

    /// Hands the worker's request, due by `deadline_ns`, to [`Pending`] while it
    /// waits between commands: blk-mq's timeout may complete it there.
    fn park(&self, rq: Request, deadline_ns: i64) {
        self.pending.lock().current = Some((rq, deadline_ns));
    }

    /// Takes the worker's request back for a command, or `None` if its time ran
    /// out meanwhile (blk-mq's timeout completed it).
    fn unpark(&self) -> Option<Request> {
        self.pending.lock().current.take().map(|(rq, _)| rq)
    }

    /// A request succeeded: requests still queued are waiting behind a device
    /// that makes progress.
    fn progress(&self) {
        self.pending.lock().progress_ns = now_ns();
    }

    /// Runs one block request and completes it, by its deadline.
    fn run_request(&self, q: Queued) {
        let Queued {
            rq,
            lun,
            timeout_ns,
            ..
        } = q;
        // The time limit runs from now: the device works on this request alone.
        let deadline_ns = now_ns().saturating_add(timeout_ns);
        let op = rq.op();
        let Some(params) = self.luns.get(usize::from(lun)) else {
            return rq.end(Status::IoErr);
        };
        let shift = params.block_shift.load(Ordering::Relaxed);
        // The blocks of a read, write or discard.
        let (lba, blocks) = (rq.sector() >> (shift - 9), rq.bytes() >> shift);
        let mut unmap = [0u8; UNMAP_PARAM_LEN];
        let cmd = match op {
            Op::Read | Op::Write => {
                let cdb = if op == Op::Read {
                    cdb::read(lba, blocks)
                } else {
                    // The block layer sets FUA only on queues with the feature.
                    let fua = rq.is_fua() && params.fua.load(Ordering::Relaxed);
                    if fua {
                        self.stats.inc(Counter::FuaWrites);
                    }
                    cdb::write_fua(lba, blocks, fua)
                };
                match cdb {
                    Ok(c) => c,
                    Err(_) => return rq.end(Status::IoErr),
                }
            }
            Op::Flush if params.write_cache.load(Ordering::Relaxed) => {
                cdb::synchronize_cache_10(0, 0, false)
            }
            Op::Flush => return rq.end(Status::Ok),
            // Only queues with discard limits get discards: UNMAP.
            Op::Discard => {
                unmap = unmap_params(lba, blocks);
                cdb::unmap(UNMAP_PARAM_LEN as u16)
            }
            Op::Other(_) => return rq.end(Status::NotSupp),
        };
        let job = Job {
            lun,
            op,
            cdb: cmd,
            sector: rq.sector(),
            bytes: if op == Op::Discard {
                UNMAP_PARAM_LEN as u32
            } else {
                rq.bytes()
            },
            unmap,
            deadline_ns,
        };

        // Waiting for the transport (another command, a recovery, an ioctl),
        // the request is the timeout's to take.
        self.park(rq, deadline_ns);
        let mut io = self.lock_io();
        self.take_retry_now(&mut io);
        let Ending {
            status,
            done,
            broken,
        } = self.execute(&mut io, params, &job);
        if let Some(rq) = self.unpark() {
            if status == Status::Ok {
                self.progress();
            }
            rq.end_after(done, status);
        }
        // The request failed for want of a valid CSW after its last try: put the
        // device back in step for the next command now that the request is over.
        if let Some(e) = broken {
            let Io { bot, rec, .. } = &mut *io;
            if rec.recover(bot, lun, &job.cdb, job.bytes, e) == Err(TransportError::Gone) {
                self.fail_all(Status::Offline);
            }
        }
    }

    /// Runs the commands of `job` (its request parked in [`Pending`] between
    /// them) until it succeeds, fails, or its deadline passes. Returns its
    /// status, and the transport error still to recover from if the last try
    /// ended without a valid CSW.
    fn execute(&self, io: &mut Io, params: &LunParams, job: &Job) -> Ending {
        let who = Who(&self.name, job.lun);
        let (lun, op, cdb) = (job.lun, job.op, &job.cdb);
        if params.stale.load(Ordering::Acquire) {
            io.request_error(fmt!(
                "{}: {} at sector {}: the medium changed; I/O fails until the disk is opened again\n",
                who,
                op_name(op),
                job.sector
            ));
            return Ending::of(Status::IoErr);
        }
        let t = io.bot.timeouts().by(job.deadline_ns);
        let mut transport_tries = 0;
        for attempt in 1..=MAX_TRIES {
            if t.expired() {
                io.request_error(fmt!(
                    "{}: {} at sector {}: no result within its time limit (queue/io_timeout)\n",
                    who,
                    op_name(op),
                    job.sector
                ));
                return Ending::of(Status::Timeout);
            }
            let out = if op == Op::Flush {
                io.bot.command_with(lun, cdb, Data::None, 0, t)
            } else if op == Op::Discard {
                // The UNMAP parameter list is the driver's, in its own buffer.
                let Io { bot, sg, buf, .. } = &mut *io;
                let len = job.unmap.len();
                if let Some(dst) = buf.as_mut_slice().get_mut(..len) {
                    dst.copy_from_slice(&job.unmap);
                }
                match sg.one(buf, len) {
                    Ok(seg) => bot.command_with(lun, cdb, Data::Out(seg), job.bytes, t),
                    Err(_) => Err(TransportError::Broken(Stage::Data, Fault::Usb)),
                }
            } else {
                // Its data moves now: out of the timeout's reach, and back after.
                let Some(rq) = self.unpark() else {
                    return Ending::of(Status::Timeout);
                };
                let Io { bot, sg, .. } = &mut *io;
                let out = match rq.map_sg(sg) {
                    Ok(seg) => {
                        let data = if op == Op::Read {
                            Data::In(seg)
                        } else {
                            Data::Out(seg)
                        };
                        bot.command_with(lun, cdb, data, job.bytes, t)
                    }
                    Err(_) => Err(TransportError::Broken(Stage::Data, Fault::Usb)),
                };
                self.park(rq, job.deadline_ns);
                out
            };
            let last = attempt == MAX_TRIES;
            if out.is_ok() {
                io.rec.succeeded();
            }
            if op == Op::Flush
                && matches!(out, Ok(Outcome::Passed { .. }))
                && self.quirks.contains(Quirks::SENSE_AFTER_SYNC)
            {
                // usb-storage's SENSE_AFTER_SYNC: a command right after the
                // flush keeps the device from taking it as a goodbye.
                let _ = io.request_sense(lun);
            }
            if op == Op::Read && self.quirks.contains(Quirks::INITIAL_READ10) {
                // usb-storage's INITIAL_READ10: a READ that fails right after
                // one that worked is tried again at once.
                let worked = matches!(out, Ok(Outcome::Passed { residue: 0 }));
                if core::mem::replace(&mut io.read_worked, worked) && !worked && !last {
                    if let Ok(Outcome::Failed { .. }) = out {
                        let _ = io.request_sense(lun);
                    }
                    if out.is_ok() {
                        continue;
                    }
                }
            }
            match out {
                Ok(Outcome::Passed { residue: 0 }) => return Ending::of(Status::Ok),
                Ok(Outcome::Passed { residue }) => {
                    io.request_error(fmt!(
                        "{}: {} at sector {}: {} of {} bytes not transferred\n",
                        who,
                        op_name(op),
                        job.sector,
                        residue,
                        job.bytes
                    ));
                    return Ending::of(Status::IoErr);
                }
                Ok(Outcome::Failed { residue }) => {
                    let Some(sense) = io.request_sense(lun) else {
                        io.request_error(fmt!(
                            "{}: {} at sector {} failed, no sense data\n",
                            who,
                            op_name(op),
                            job.sector
                        ));
                        return Ending::of(Status::IoErr);
                    };
                    let all_moved = residue == 0;
                    let decision = sense.retry_after(all_moved);
                    params.saw(decision);
                    let retry = match decision {
                        Retry::Yes => true,
                        // As sd: a unit that needs starting is started, then
                        // the command is tried again.
                        Retry::NeedsStart => !last && io.start_unit(lun),
                        Retry::Delayed => {
                            fsleep(Delta::from_millis(100));
                            true
                        }
                        // As sd: not retried on a removable medium that may
                        // be another one.
                        Retry::MediaChanged => !params.removable.load(Ordering::Acquire),
                        Retry::No | Retry::NoMedium => false,
                    };
                    let status = sense.blk_status_after(all_moved);
                    if status == Status::Ok {
                        return Ending::of(status);
                    }
                    if !retry || last {
                        // As sd: the blocks before one the device names as bad
                        // complete; only the rest of the request fails.
                        let shift = params.block_shift.load(Ordering::Relaxed);
                        let moved = job.bytes.saturating_sub(residue);
                        let done = if matches!(op, Op::Flush | Op::Discard) {
                            0
                        } else {
                            let done = sense.completed_bytes(
                                job.sector >> (shift - 9),
                                u64::from(job.bytes >> shift),
                                1 << shift,
                                moved.into(),
                            );
                            // Never more than `moved`, a u32.
                            u32::try_from(done).unwrap_or(0)
                        };
                        io.request_error(fmt!(
                            "{}: {} at sector {} failed{}: sense {:?} {:02x}/{:02x}{}\n",
                            who,
                            op_name(op),
                            job.sector,
                            PartialNote(done, job.sector),
                            sense.key,
                            sense.asc,
                            sense.ascq,
                            if all_moved { "" } else { ", data missing" }
                        ));
                        return Ending {
                            done,
                            ..Ending::of(status)
                        };
                    }
                }
                Err(TransportError::Gone) => {
                    self.fail_all(Status::Offline);
                    return Ending::of(Status::Offline);
                }
                Err(TransportError::Dead) => return Ending::of(Status::IoErr),
                Err(e @ TransportError::Broken(_, fault)) => {
                    transport_tries += 1;
                    let status = if fault == Fault::Timeout {
                        Status::Timeout
                    } else {
                        Status::IoErr
                    };
                    if transport_tries >= TRANSPORT_TRIES || last || t.expired() {
                        io.request_error(fmt!(
                            "{}: {} at sector {}: {} after {} tries; failing it\n",
                            who,
                            op_name(op),
                            job.sector,
                            fault.name(),
                            transport_tries
                        ));
                        return Ending {
                            broken: Some(e),
                            ..Ending::of(status)
                        };
                    }
                    let Io { bot, rec, .. } = &mut *io;
                    match rec.recover(bot, lun, cdb, job.bytes, e) {
                        Ok(()) => {}
                        Err(TransportError::Gone) => {
                            self.fail_all(Status::Offline);
                            return Ending::of(Status::Offline);
                        }
                        // Given up for now, or reset and still not answering:
                        // this request fails, the next one tries again.
                        Err(_) => return Ending::of(status),
                    }
                }
            }
        }
        Ending::of(Status::IoErr)
    }
}

/// How the commands of a block request ended.
struct Ending {
    /// The status of the request, or of its part after `done`.
    status: Status,
    /// Bytes at the start of the request that completed before an error the
    /// device located (sense INFORMATION), as sd completes them.
    done: u32,
    /// The transport error still to recover from, if the last try ended
    /// without a valid CSW.
    broken: Option<TransportError>,
}

impl Ending {
    const fn of(status: Status) -> Self {
        Self {
            status,
            done: 0,
            broken: None,
        }
    }
}

/// ` at sector S` for the first bad sector of a partly completed request
/// (`done` bytes from sector `start`), nothing otherwise.
struct PartialNote(u32, u64);

impl kernel::fmt::Display for PartialNote {
    fn fmt(&self, f: &mut kernel::fmt::Formatter<'_>) -> kernel::fmt::Result {
        let (done, start) = (u64::from(self.0 >> 9), self.1);
        match done {
            0 => Ok(()),
            _ => kernel::fmt::Display::fmt(
                &format_args!(
                    " at sector {} (the {done} sectors before it completed)",
                    start + done
                ),
                f,
            ),
        }
    }
}

/// What the worker runs for one block request.
struct Job {
    lun: u8,
    op: Op,
    cdb: Cdb,
    sector: u64,
    /// Bytes of the data stage: the request's, or the UNMAP parameter list's.
    bytes: u32,
    /// A discard's UNMAP parameter list.
    unmap: [u8; UNMAP_PARAM_LEN],
    /// `ktime_get()` nanoseconds by which the request must be over.
    deadline_ns: i64,
}
