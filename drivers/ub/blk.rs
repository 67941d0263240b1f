// SPDX-License-Identifier: GPL-2.0

//! The blk-mq layer the kernel crate does not have yet: a tag set with our own
//! `blk_mq_ops`, queue limits and features, a gendisk with a name, capacity,
//! read-only flag and parent device, and a [`Request`] that exposes its position,
//! length and operation, maps its data into a scatterlist and completes with any
//! status.
//!
//! `kernel::block::mq` offers only `end_ok` completions and block sizes; a disk
//! driver needs the rest. This file is the only place `ub` touches `struct request`,
//! `struct gendisk` and `struct blk_mq_tag_set`.

use core::{
    marker::PhantomData,
    ptr::NonNull,
    sync::atomic::{AtomicBool, AtomicU32, Ordering},
};
use kernel::{bindings, error::to_result, ffi, prelude::*, sync::Arc, types::Opaque};

use crate::{
    ffi as c,
    usbcore_sg::{Segments, SgTable},
};

/// What a request asks for.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Op {
    /// Read data from the device.
    Read,
    /// Write data to the device.
    Write,
    /// Make the device's volatile cache durable.
    Flush,
    /// The blocks are no longer in use (on queues with discard limits only).
    Discard,
    /// Anything this driver does not support (write zeroes, ...).
    Other(u32),
}

/// A completion status: the `scsi` crate's decision type, mapped onto
/// `blk_status_t` through the kernel's own errno table (`errno_to_blk_status()`),
/// so that no numeric `BLK_STS_*` value is copied here.
pub(crate) use crate::scsi::sense::BlkStatus as Status;

fn raw_status(status: Status) -> bindings::blk_status_t {
    let errno = match status {
        Status::Ok => 0,
        Status::NotSupp => EOPNOTSUPP.to_errno(),
        Status::Timeout => ETIMEDOUT.to_errno(),
        Status::NoSpc => ENOSPC.to_errno(),
        Status::Transport => ENOLINK.to_errno(),
        Status::Target => EREMOTEIO.to_errno(),
        Status::Medium => ENODATA.to_errno(),
        Status::Protection => EILSEQ.to_errno(),
        Status::Resource => ENOMEM.to_errno(),
        Status::DevResource => EBUSY.to_errno(),
        Status::Offline => ENODEV.to_errno(),
        Status::IoErr => EIO.to_errno(),
    };
    // SAFETY: `errno_to_blk_status` is a pure table lookup.
    unsafe { c::ub_errno_to_blk_status(errno) }
}

/// A request between `queue_rq` and its completion. It must be completed with
/// [`Request::end`]; dropping it unended completes it with an I/O error, so that no
/// path can leak a request and hang the queue.
///
/// # Invariants
///
/// `self.0` is a started, not yet completed request owned by this driver.
pub(crate) struct Request(NonNull<bindings::request>);

// SAFETY: A started request may be completed from any thread.
unsafe impl Send for Request {}

impl Request {
    fn raw(&self) -> *mut bindings::request {
        self.0.as_ptr()
    }

    /// First sector (512 bytes) of the request.
    pub(crate) fn sector(&self) -> u64 {
        // SAFETY: The request is valid (type invariant).
        unsafe { c::ub_blk_rq_pos(self.raw()) }
    }

    /// Length in bytes.
    pub(crate) fn bytes(&self) -> u32 {
        // SAFETY: The request is valid (type invariant).
        unsafe { c::ub_blk_rq_bytes(self.raw()) }
    }

    /// The operation.
    pub(crate) fn op(&self) -> Op {
        // SAFETY: The request is valid (type invariant).
        let op = unsafe { c::ub_req_op(self.raw()) };
        match op {
            bindings::req_op_REQ_OP_READ => Op::Read,
            bindings::req_op_REQ_OP_WRITE => Op::Write,
            bindings::req_op_REQ_OP_FLUSH => Op::Flush,
            bindings::req_op_REQ_OP_DISCARD => Op::Discard,
            other => Op::Other(other),
        }
    }

    /// Whether the request asks for Force Unit Access: a write that must be on
    /// the medium when it completes. Only set on queues with the FUA feature.
    pub(crate) fn is_fua(&self) -> bool {
        // SAFETY: The request is valid (type invariant).
        unsafe { c::ub_req_fua(self.raw()) }
    }

    /// Maps the request's data into `table`; the block layer has kept it within
    /// the queue limits, so it fits.
    pub(crate) fn map_sg<'a>(&self, table: &'a mut SgTable) -> Result<Segments<'a>> {
        let (sgl, _cap) = table.reset();
        // SAFETY: The request is valid; `sgl` has room for `max_segments` entries,
        // which is what the queue limits allow a request to have.
        let n = unsafe { c::ub_blk_rq_map_sg(self.raw(), sgl) };
        table.filled(usize::try_from(n).map_err(|_| EINVAL)?)
    }

    /// What identifies this request to [`QueueOps::timed_out`].
    pub(crate) fn id(&self) -> RequestId {
        RequestId(self.raw())
    }

    /// The time the request may take, from when it was started (the queue's
    /// `io_timeout`, which users may change in sysfs), in milliseconds.
    pub(crate) fn timeout_ms(&self) -> u32 {
        // SAFETY: The request is valid (type invariant); blk-mq set its timeout
        // when it started it, before the driver got it.
        unsafe { c::ub_rq_timeout_ms(self.raw()) }
    }

    /// Completes the first `done` bytes of the request successfully and the
    /// rest with `status`, as sd completes the blocks before a bad one.
    pub(crate) fn end_after(self, done: u32, status: Status) {
        if done > 0 && status != Status::Ok {
            // SAFETY: The request is started and owned by us. Completing part
            // of it leaves it ours, with its position and size moved past
            // that part.
            let more =
                unsafe { bindings::blk_update_request(self.raw(), raw_status(Status::Ok), done) };
            if !more {
                // `done` covered it all (never for a located error, which lies
                // inside the request): nothing is left to fail.
                let rq = self.raw();
                core::mem::forget(self);
                // SAFETY: As in `end`: the one completion of a request whose
                // bytes are all accounted for.
                unsafe { bindings::__blk_mq_end_request(rq, raw_status(Status::Ok)) };
                return;
            }
        }
        self.end(status);
    }

    /// Completes the request.
    pub(crate) fn end(self, status: Status) {
        let rq = self.raw();
        core::mem::forget(self);
        // SAFETY: The request is started and owned by us; `forget` above makes this
        // the only completion.
        unsafe { bindings::blk_mq_end_request(rq, raw_status(status)) };
    }
}

/// What the owner of a queue says about a request whose timer ran out.
pub(crate) enum Expiry {
    /// Its time is up: here it is, to complete with [`Status::Timeout`].
    Expired(Request),
    /// Not yet: look again in this many milliseconds.
    Later(u32),
    /// The owner is moving its data and completes it itself, by its deadline;
    /// the timer is restarted meanwhile.
    Busy,
}

/// A request's identity, for finding it among those a driver holds; it is never
/// dereferenced.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct RequestId(*mut bindings::request);

// SAFETY: A `RequestId` is only compared, never dereferenced.
unsafe impl Send for RequestId {}

impl Drop for Request {
    fn drop(&mut self) {
        // SAFETY: As in `end`: a dropped request is still ours and not completed.
        unsafe { bindings::blk_mq_end_request(self.raw(), raw_status(Status::IoErr)) };
    }
}

/// What a disk's owner does with the requests of its queue and with the disk's
/// block device operations.
pub(crate) trait QueueOps: Sync {
    /// Takes a started request, to complete now or later; must not sleep.
    fn queue_rq(&self, rq: Request);

    /// The disk is being opened (`ndelay`: with `O_NDELAY`, which must succeed
    /// without a medium). May sleep. An error fails the open.
    fn open(&self, disk: &DiskHandle, ndelay: bool) -> Result;

    /// Polls for a media change (the block layer's disk events, removable disks
    /// only). May sleep. `true` when the medium changed since the last call.
    fn media_changed(&self) -> bool;

    /// The `CDROMEJECT` ioctl: eject the medium. May sleep.
    fn eject(&self) -> Result;

    /// The `CDROM_LOCKDOOR` ioctl: prevent (`lock`) or allow medium removal.
    /// May sleep.
    fn lock_door(&self, lock: bool) -> Result;

    /// blk-mq's timer of request `rq` ran out (the queue's `io_timeout` passed
    /// since it was started, or the time an earlier [`Expiry::Later`] asked
    /// for). Must not sleep.
    fn timed_out(&self, rq: RequestId) -> Expiry;

    /// An `SG_IO` command, checked by helpers.c. `Ok` when the device answered
    /// with a status ([`Passthrough::complete`] was called); `EIO` or `ENODEV`
    /// when the command did not complete (reported to the caller as a host
    /// error); any other error fails the ioctl. May sleep.
    fn passthrough(&self, pt: &mut Passthrough<'_>) -> Result;
}

/// The direction of a passthrough command's data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PtDir {
    /// No data.
    None,
    /// From the device.
    In,
    /// To the device.
    Out,
}

/// `struct ub_passthrough` in helpers.h.
#[repr(C)]
struct PassthroughCmd {
    cdb: [u8; 16],
    cdb_len: u8,
    dir: u8,
    status: u8,
    sense_len: u8,
    sense: [u8; 96],
    len: u32,
    timeout_ms: u32,
    resid: u32,
    buf: *mut ffi::c_void,
}

/// One `SG_IO` command and its kernel copy of the caller's data.
///
/// # Invariants
///
/// `self.0.buf` points to `self.0.len` bytes (or `len` is 0), and `cdb_len` is at
/// most 16: helpers.c checked and allocated them.
pub(crate) struct Passthrough<'a>(&'a mut PassthroughCmd);

impl Passthrough<'_> {
    /// The command bytes (6 to 16).
    pub(crate) fn cdb(&self) -> &[u8] {
        self.0.cdb.get(..usize::from(self.0.cdb_len)).unwrap_or(&[])
    }

    /// The data direction.
    pub(crate) fn dir(&self) -> PtDir {
        match self.0.dir {
            1 => PtDir::In,
            2 => PtDir::Out,
            _ => PtDir::None,
        }
    }

    /// The caller's timeout in milliseconds, 0 for the default.
    pub(crate) fn timeout_ms(&self) -> u32 {
        self.0.timeout_ms
    }

    /// The data: what to send, or where to put what arrives.
    pub(crate) fn data(&mut self) -> &mut [u8] {
        if self.0.len == 0 || self.0.buf.is_null() {
            return &mut [];
        }
        // SAFETY: By the type invariant `buf` holds `len` bytes, which nothing
        // else uses while helpers.c waits for this command.
        unsafe { core::slice::from_raw_parts_mut(self.0.buf.cast(), self.0.len as usize) }
    }

    /// Records the command's SCSI status, the bytes not transferred and, for a
    /// CHECK CONDITION, the sense data (at most 96 bytes, sd's
    /// `SCSI_SENSE_BUFFERSIZE`).
    pub(crate) fn complete(&mut self, status: u8, resid: u32, sense: &[u8]) {
        let n = sense.len().min(self.0.sense.len());
        self.0.status = status;
        self.0.resid = resid;
        self.0.sense_len = n as u8;
        if let (Some(dst), Some(src)) = (self.0.sense.get_mut(..n), sense.get(..n)) {
            dst.copy_from_slice(src);
        }
    }
}

/// A disk as its owner's callbacks see it.
///
/// # Invariants
///
/// `self.0` is a live, added gendisk.
pub(crate) struct DiskHandle(NonNull<bindings::gendisk>);

impl DiskHandle {
    /// Asks the disk events code whether the medium changed (through
    /// [`QueueOps::media_changed`]); if it did, the block device's cached data is
    /// dropped and the partitions will be rescanned: the caller must revalidate
    /// the capacity.
    pub(crate) fn check_media_change(&self) -> bool {
        // SAFETY: The disk is live (type invariant); called from `open`, where the
        // block layer allows it.
        unsafe { bindings::disk_check_media_change(self.0.as_ptr()) }
    }

    /// Sets the capacity in 512-byte sectors.
    pub(crate) fn set_capacity(&self, sectors: u64) {
        // SAFETY: The disk is live (type invariant).
        unsafe { bindings::set_capacity(self.0.as_ptr(), sectors) };
    }

    /// Sets or clears the read-only flag.
    pub(crate) fn set_read_only(&self, ro: bool) {
        // SAFETY: The disk is live (type invariant).
        unsafe { bindings::set_disk_ro(self.0.as_ptr(), ro) };
    }

    /// Turns the queue's volatile write cache feature on or off: with it, the
    /// block layer sends flushes (and `queue/write_cache` reads "write back"),
    /// and with `fua` as well, FUA writes instead of a flush after the write.
    /// Freezes the queue: the caller must not hold anything the requests in
    /// flight wait for.
    pub(crate) fn set_write_cache(&self, on: bool, fua: bool) -> Result {
        // SAFETY: The disk is live (type invariant).
        to_result(unsafe { c::ub_disk_set_write_cache(self.0.as_ptr(), on, fua) })
    }
}

/// The callbacks of `ub_fops` (helpers.c) for one disk, reached through its
/// `private_data`: `struct ub_disk_hooks` in helpers.h. It holds a reference to the
/// disk's owner, so that a block device still open after the disk was deleted (an
/// unplugged stick) never calls into freed memory; the gendisk's `free_disk`
/// releases both.
#[repr(C)]
struct Hooks {
    owner: *const ffi::c_void,
    open: unsafe extern "C" fn(*const ffi::c_void, *mut bindings::gendisk, bool) -> ffi::c_int,
    check_events: unsafe extern "C" fn(*const ffi::c_void) -> ffi::c_uint,
    eject: unsafe extern "C" fn(*const ffi::c_void) -> ffi::c_int,
    lock_door: unsafe extern "C" fn(*const ffi::c_void, bool) -> ffi::c_int,
    passthrough: unsafe extern "C" fn(*const ffi::c_void, *mut PassthroughCmd) -> ffi::c_int,
    release: unsafe extern "C" fn(*mut Hooks),
    ident: LunIdent,
    max_sectors_cap: u32,
}

/// `struct ub_lun_ident` in helpers.h: NUL-terminated strings.
#[repr(C)]
struct LunIdent {
    vendor: [u8; 9],
    model: [u8; 17],
    rev: [u8; 5],
    serial: [u8; 65],
    lun: u8,
}

/// Copies `src` into `dst`, cut to leave room for the terminating NUL.
fn copy_cstr(dst: &mut [u8], src: &[u8]) {
    let room = dst.len().saturating_sub(1);
    for (i, d) in dst.iter_mut().enumerate() {
        *d = if i < room {
            src.get(i).copied().unwrap_or(0)
        } else {
            0
        };
    }
}

/// What the disk's `ub/` sysfs attributes show: its LUN and that LUN's
/// identification.
pub(crate) struct DiskIdent<'a> {
    /// The LUN.
    pub(crate) lun: u8,
    /// INQUIRY vendor.
    pub(crate) vendor: &'a [u8],
    /// INQUIRY product.
    pub(crate) model: &'a [u8],
    /// INQUIRY revision.
    pub(crate) rev: &'a [u8],
    /// Unit serial number (VPD page 0x80), empty if none.
    pub(crate) serial: &'a [u8],
}

impl Hooks {
    /// Allocates the hooks of a disk owned by `owner`; the returned pointer owns
    /// the allocation and the reference.
    fn alloc<T: QueueOps + Send>(owner: Arc<T>, max_sectors_cap: u32) -> Result<NonNull<Hooks>> {
        let owner = Arc::into_raw(owner);
        let hooks = KBox::new(
            Self {
                owner: owner.cast(),
                open: HooksTable::<T>::open,
                check_events: HooksTable::<T>::check_events,
                eject: HooksTable::<T>::eject,
                lock_door: HooksTable::<T>::lock_door,
                passthrough: HooksTable::<T>::passthrough,
                release: HooksTable::<T>::release,
                max_sectors_cap,
                ident: LunIdent {
                    vendor: [0; 9],
                    model: [0; 17],
                    rev: [0; 5],
                    serial: [0; 65],
                    lun: 0,
                },
            },
            GFP_KERNEL,
        );
        match hooks {
            Ok(h) => Ok(NonNull::from(KBox::leak(h))),
            Err(e) => {
                // SAFETY: `owner` came from `Arc::into_raw` just above.
                drop(unsafe { Arc::from_raw(owner) });
                Err(e.into())
            }
        }
    }
}

struct HooksTable<T>(PhantomData<T>);

impl<T: QueueOps + Send> HooksTable<T> {
    /// Frees `hooks` and drops its reference to the owner.
    ///
    /// # Safety
    ///
    /// `hooks` comes from [`Hooks::alloc`] for this `T` and is not used after.
    unsafe extern "C" fn release(hooks: *mut Hooks) {
        // SAFETY: By the function's contract, `hooks` is the leaked box of
        // `alloc`, whose `owner` is an `Arc<T>` turned into a raw pointer.
        unsafe {
            let hooks = KBox::from_raw(hooks);
            drop(Arc::from_raw(hooks.owner.cast::<T>()));
        }
    }

    /// # Safety
    ///
    /// `owner` is the `T` of a live disk and `disk` that disk.
    unsafe extern "C" fn open(
        owner: *const ffi::c_void,
        disk: *mut bindings::gendisk,
        ndelay: bool,
    ) -> ffi::c_int {
        // SAFETY: By the function's contract.
        let owner = unsafe { &*owner.cast::<T>() };
        let Some(disk) = NonNull::new(disk) else {
            return EINVAL.to_errno();
        };
        // INVARIANT: The block layer opens live disks only.
        match owner.open(&DiskHandle(disk), ndelay) {
            Ok(()) => 0,
            Err(e) => e.to_errno(),
        }
    }

    /// # Safety
    ///
    /// `owner` is the `T` of a live disk.
    unsafe extern "C" fn check_events(owner: *const ffi::c_void) -> ffi::c_uint {
        // SAFETY: By the function's contract.
        let owner = unsafe { &*owner.cast::<T>() };
        if owner.media_changed() {
            bindings::DISK_EVENT_MEDIA_CHANGE
        } else {
            0
        }
    }

    /// # Safety
    ///
    /// `owner` is the `T` of a live disk.
    unsafe extern "C" fn eject(owner: *const ffi::c_void) -> ffi::c_int {
        // SAFETY: By the function's contract.
        let owner = unsafe { &*owner.cast::<T>() };
        match owner.eject() {
            Ok(()) => 0,
            Err(e) => e.to_errno(),
        }
    }

    /// # Safety
    ///
    /// `owner` is the `T` of a live disk.
    unsafe extern "C" fn lock_door(owner: *const ffi::c_void, lock: bool) -> ffi::c_int {
        // SAFETY: By the function's contract.
        let owner = unsafe { &*owner.cast::<T>() };
        match owner.lock_door(lock) {
            Ok(()) => 0,
            Err(e) => e.to_errno(),
        }
    }

    /// # Safety
    ///
    /// `owner` is the `T` of a live disk; `pt` is helpers.c's checked command,
    /// exclusively ours for the call.
    unsafe extern "C" fn passthrough(
        owner: *const ffi::c_void,
        pt: *mut PassthroughCmd,
    ) -> ffi::c_int {
        // SAFETY: By the function's contract.
        let owner = unsafe { &*owner.cast::<T>() };
        // SAFETY: By the function's contract; helpers.c checked the lengths and
        // allocated the buffer (the type invariant of `Passthrough`).
        let Some(pt) = (unsafe { pt.as_mut() }) else {
            return EINVAL.to_errno();
        };
        if pt.cdb_len as usize > pt.cdb.len() {
            return EINVAL.to_errno();
        }
        match owner.passthrough(&mut Passthrough(pt)) {
            Ok(()) => 0,
            Err(e) => e.to_errno(),
        }
    }
}

struct OpsTable<T>(PhantomData<T>);

impl<T: QueueOps> OpsTable<T> {
    const OPS: bindings::blk_mq_ops = bindings::blk_mq_ops {
        queue_rq: Some(Self::queue_rq),
        timeout: Some(Self::timeout),
        // SAFETY: All-zero is a valid `blk_mq_ops`: every other callback is `None`.
        ..unsafe { core::mem::MaybeUninit::zeroed().assume_init() }
    };

    extern "C" fn queue_rq(
        _hctx: *mut bindings::blk_mq_hw_ctx,
        bd: *const bindings::blk_mq_queue_data,
    ) -> bindings::blk_status_t {
        // SAFETY: blk-mq passes a valid `bd` with a valid, not yet started request.
        let rq = unsafe { (*bd).rq };
        // SAFETY: The queue data is the `T` given to `Disk::new`, which outlives the
        // queue (the disk is deleted before its owner goes away).
        let owner = unsafe { &*c::ub_rq_queuedata(rq).cast::<T>() };
        // SAFETY: `rq` is valid and not started.
        unsafe { bindings::blk_mq_start_request(rq) };
        // INVARIANT: Started just above, completed only through `Request`.
        let Some(rq) = NonNull::new(rq) else {
            return raw_status(Status::IoErr);
        };
        owner.queue_rq(Request(rq));
        raw_status(Status::Ok)
    }

    extern "C" fn timeout(rq: *mut bindings::request) -> bindings::blk_eh_timer_return {
        // SAFETY: blk-mq passes a valid request of this queue, which holds a
        // reference to it for the call; the queue data is the `T` of `Disk::new`.
        let owner = unsafe { &*c::ub_rq_queuedata(rq).cast::<T>() };
        match owner.timed_out(RequestId(rq)) {
            // Completing from the timeout handler and returning `BLK_EH_DONE` is
            // what blk-mq expects of a driver that ended the request itself.
            Expiry::Expired(rq) => {
                rq.end(Status::Timeout);
                bindings::blk_eh_timer_return_BLK_EH_DONE
            }
            Expiry::Later(ms) => {
                // SAFETY: The request is valid for the call; blk-mq re-arms its
                // timer from `timeout` when this returns `BLK_EH_RESET_TIMER`.
                unsafe { c::ub_rq_set_timeout_ms(rq, ms.max(1)) };
                bindings::blk_eh_timer_return_BLK_EH_RESET_TIMER
            }
            Expiry::Busy => bindings::blk_eh_timer_return_BLK_EH_RESET_TIMER,
        }
    }
}

/// Queue limits and features of a disk.
pub(crate) struct Limits {
    /// Logical block size in bytes.
    pub(crate) logical_block_size: u32,
    /// Physical block size in bytes.
    pub(crate) physical_block_size: u32,
    /// Largest request, in 512-byte sectors.
    pub(crate) max_hw_sectors: u32,
    /// The most `ub/max_sectors` may set `max_hw_sectors` to.
    pub(crate) max_hw_sectors_cap: u32,
    /// Largest discard in 512-byte sectors, 0 for no discard.
    pub(crate) max_discard_sectors: u32,
    /// Discard granularity in bytes (with `max_discard_sectors`).
    pub(crate) discard_granularity: u32,
    /// Most scatterlist entries per request.
    pub(crate) max_segments: u16,
    /// Every segment but the last must end on this boundary (mask), or 0.
    pub(crate) virt_boundary_mask: usize,
    /// Buffers must be aligned to this mask.
    pub(crate) dma_alignment: u32,
    /// The device has a volatile write cache: flushes are sent.
    pub(crate) write_cache: bool,
    /// With `write_cache`: writes may carry FUA instead of a flush after them.
    pub(crate) fua: bool,
    /// The medium rotates (`queue/rotational`, and the entropy pool takes its
    /// timings, as sd's disks).
    pub(crate) rotational: bool,
    /// The time a request may take from when the driver gets it, retries and
    /// recovery included (`queue/io_timeout`, in milliseconds).
    pub(crate) io_timeout_ms: u32,
}

/// A blk-mq disk: tag set, gendisk, its callbacks and its index for the name.
///
/// # Invariants
///
/// `disk` is a gendisk allocated on `set` whose `private_data` is `hooks`, owned
/// by the disk once it was added (its `free_disk` releases them) and by this
/// struct before; `added` tells whether the disk is added and not deleted yet,
/// `registered` whether it was ever added.
pub(crate) struct Disk {
    set: Pin<KBox<Opaque<bindings::blk_mq_tag_set>>>,
    hooks: NonNull<Hooks>,
    registered: bool,
    disk: NonNull<bindings::gendisk>,
    index: ffi::c_int,
    added: AtomicBool,
}

// SAFETY: The gendisk and tag set may be used and released from any thread.
unsafe impl Send for Disk {}
// SAFETY: `&Disk` only reads or calls thread-safe block layer functions.
unsafe impl Sync for Disk {}

/// The block major of the module's disks, 0 before [`Major::register`].
static MAJOR: AtomicU32 = AtomicU32::new(0);
/// Minors per disk: the whole disk and 15 partitions, as sd; further partitions
/// get numbers from the block layer's extended range.
const DISK_MINORS: i32 = 16;

/// A block major number registered for the module's disks (`/proc/devices`
/// shows it as `ub`), given back on drop. Tools tell disk types apart by major:
/// on the shared extended major (259), which NVMe namespaces use, sg3_utils
/// would take a `ub` disk for NVMe.
pub(crate) struct Major {
    major: u32,
    name: &'static CStr,
}

impl Major {
    /// Registers a dynamic major named `name`.
    pub(crate) fn register(name: &'static CStr) -> Result<Self> {
        // SAFETY: `name` is a static NUL-terminated string; 0 asks for a dynamic
        // major; no probe callback.
        let ret = unsafe { bindings::__register_blkdev(0, name.as_char_ptr(), None) };
        let major = u32::try_from(to_result(ret).map(|()| ret)?).map_err(|_| EINVAL)?;
        MAJOR.store(major, Ordering::Release);
        Ok(Self { major, name })
    }
}

impl Drop for Major {
    fn drop(&mut self) {
        MAJOR.store(0, Ordering::Release);
        // SAFETY: Registered in `register` with this name; no disk uses it any
        // more (the driver, and with it every disk, is gone first).
        unsafe { bindings::unregister_blkdev(self.major, self.name.as_char_ptr()) };
    }
}

/// `uba`, ..., `ubz`, `ubaa`, ... as `sd` names its disks.
fn disk_name(index: u32, out: &mut [ffi::c_char; 32]) {
    let mut letters = [0u8; 8];
    let mut n = 0;
    let mut i = index;
    loop {
        letters[n] = b'a' + (i % 26) as u8;
        n += 1;
        if i < 26 || n == letters.len() {
            break;
        }
        i = i / 26 - 1;
    }
    let mut pos = 0;
    for &b in Iterator::chain(b"ub".iter(), letters[..n].iter().rev()) {
        out[pos] = b as ffi::c_char;
        pos += 1;
    }
    out[pos] = 0;
}

impl Disk {
    /// Allocates a disk with queue depth `depth` whose requests and block device
    /// operations go to `owner`; the disk keeps `owner` until it is freed. A
    /// `removable` disk says so in sysfs and reports media changes through the
    /// block layer's disk events.
    pub(crate) fn new<T: QueueOps + Send>(
        owner: Arc<T>,
        depth: u32,
        lim: &Limits,
        capacity_sectors: u64,
        read_only: bool,
        removable: bool,
    ) -> Result<Self> {
        let owner_ptr = Arc::as_ptr(&owner);
        let hooks = Hooks::alloc(owner, lim.max_hw_sectors_cap)?;
        let free_hooks = |hooks: NonNull<Hooks>| {
            // SAFETY: The hooks were allocated above and no disk refers to them.
            unsafe { ((*hooks.as_ptr()).release)(hooks.as_ptr()) }
        };
        let set = KBox::pin_init(
            Opaque::try_ffi_init(|set: *mut bindings::blk_mq_tag_set| {
                // SAFETY: `set` is valid for writes; a zeroed tag set is valid input.
                unsafe {
                    set.write(core::mem::MaybeUninit::zeroed().assume_init());
                    (*set).ops = &OpsTable::<T>::OPS;
                    (*set).nr_hw_queues = 1;
                    (*set).queue_depth = depth;
                    (*set).timeout = kernel::time::msecs_to_jiffies(lim.io_timeout_ms)
                        .try_into()
                        .unwrap_or(u32::MAX);
                    (*set).numa_node = bindings::NUMA_NO_NODE;
                    (*set).cmd_size = 0;
                    to_result(bindings::blk_mq_alloc_tag_set(set))
                }
            }),
            GFP_KERNEL,
        )
        .inspect_err(|_| free_hooks(hooks))?;
        let free_set = |set: &Pin<KBox<Opaque<bindings::blk_mq_tag_set>>>| {
            // SAFETY: Allocated above and not used by any queue.
            unsafe { bindings::blk_mq_free_tag_set(set.get()) }
        };

        // SAFETY: All-zero is the "no limit set" value of every field.
        let mut ql: bindings::queue_limits = unsafe { core::mem::zeroed() };
        ql.logical_block_size = lim.logical_block_size;
        ql.physical_block_size = lim.physical_block_size;
        ql.max_hw_sectors = lim.max_hw_sectors;
        ql.max_segments = lim.max_segments;
        ql.virt_boundary_mask = lim.virt_boundary_mask as ffi::c_ulong;
        ql.dma_alignment = lim.dma_alignment;
        if lim.max_discard_sectors > 0 {
            // One range per request: one UNMAP block descriptor.
            ql.max_hw_discard_sectors = lim.max_discard_sectors;
            ql.max_discard_segments = 1;
            ql.discard_granularity = lim.discard_granularity;
        }
        if lim.write_cache {
            // SAFETY: `ql` is a valid local.
            unsafe { c::ub_limits_set_write_cache(&mut ql, lim.fua) };
        }
        if lim.rotational {
            // SAFETY: `ql` is a valid local.
            unsafe { c::ub_limits_set_rotational(&mut ql) };
        }
        // SAFETY: The tag set is allocated; the hooks keep `owner` alive until the
        // disk is freed, and the queue goes with it.
        let disk =
            unsafe { c::ub_blk_mq_alloc_disk(set.get(), &mut ql, owner_ptr.cast_mut().cast()) };
        let disk = match kernel::error::from_err_ptr(disk) {
            Ok(d) => d,
            Err(e) => {
                free_set(&set);
                free_hooks(hooks);
                return Err(e);
            }
        };
        // SAFETY: Pure IDA call.
        let index = unsafe { c::ub_disk_index_alloc() };
        if index < 0 {
            // SAFETY: The disk was never added.
            unsafe { bindings::put_disk(disk) };
            free_set(&set);
            free_hooks(hooks);
            return Err(Error::from_errno(index));
        }
        // SAFETY: `disk` is a freshly allocated gendisk that nothing else uses yet.
        unsafe {
            disk_name(index as u32, &mut (*disk).disk_name);
            // Our major and 16 minors per disk; a disk whose minors would not fit
            // in 20 bits takes extended numbers instead.
            let major = MAJOR.load(Ordering::Acquire);
            if major != 0 && index < (1 << bindings::MINORBITS) / DISK_MINORS {
                (*disk).major = major as ffi::c_int;
                (*disk).first_minor = index * DISK_MINORS;
                (*disk).minors = DISK_MINORS;
            }
            (*disk).fops = c::ub_disk_fops();
            (*disk).private_data = hooks.as_ptr().cast();
            bindings::set_capacity(disk, capacity_sectors);
            if read_only {
                bindings::set_disk_ro(disk, true);
            }
            if removable {
                (*disk).flags |= bindings::GENHD_FL_REMOVABLE as ffi::c_int;
                (*disk).events = bindings::DISK_EVENT_MEDIA_CHANGE as u16;
                // As sd: polled at the block layer's default interval
                // (block.events_dfl_poll_msecs, which udev sets to 2 s) unless
                // the disk's events_poll_msecs says otherwise; a change is a
                // uevent, so desktops mount a new card.
                (*disk).event_flags =
                    (bindings::DISK_EVENT_FLAG_POLL | bindings::DISK_EVENT_FLAG_UEVENT) as u16;
            }
        }
        Ok(Self {
            set,
            hooks,
            registered: false,
            // SAFETY: `from_err_ptr` returned a non-error pointer, never null here.
            disk: unsafe { NonNull::new_unchecked(disk) },
            index,
            added: AtomicBool::new(false),
        })
    }

    /// Registers the disk below `parent` with `ident` for its `ub/` attributes:
    /// it appears as `/dev/<name>` and its partitions are scanned.
    pub(crate) fn add(&mut self, parent: *mut bindings::device, ident: &DiskIdent<'_>) -> Result {
        // SAFETY: The hooks are ours until the disk is added: nothing reads them.
        let id = unsafe { &mut (*self.hooks.as_ptr()).ident };
        copy_cstr(&mut id.vendor, ident.vendor);
        copy_cstr(&mut id.model, ident.model);
        copy_cstr(&mut id.rev, ident.rev);
        copy_cstr(&mut id.serial, ident.serial);
        id.lun = ident.lun;
        // SAFETY: The disk is allocated and not added; `parent` is a live device
        // that outlives the disk (the driver deletes the disk on unbind); the
        // attribute groups are static.
        to_result(unsafe {
            bindings::device_add_disk(parent, self.disk.as_ptr(), c::ub_disk_attr_groups())
        })?;
        self.registered = true;
        self.added.store(true, Ordering::Release);
        Ok(())
    }

    /// The disk's name (`uba`).
    pub(crate) fn name(&self) -> &CStr {
        // SAFETY: `disk_name` was set to a NUL-terminated string in `new`.
        unsafe { CStr::from_char_ptr((*self.disk.as_ptr()).disk_name.as_ptr()) }
    }

    /// Removes the disk: new I/O fails, pending I/O is drained, the device node
    /// goes away. Called before the owner stops serving requests.
    pub(crate) fn delete(&self) {
        if self.added.swap(false, Ordering::AcqRel) {
            // SAFETY: The disk was added and not deleted yet.
            unsafe { bindings::del_gendisk(self.disk.as_ptr()) };
        }
    }
}

impl Drop for Disk {
    fn drop(&mut self) {
        self.delete();
        // SAFETY: The disk is deleted (or never added); this drops our reference,
        // after which no request reaches the queue and the tag set can be freed.
        // An added disk releases the hooks from its `free_disk` (now, or when the
        // last opener closes it); one never added does not call it.
        unsafe {
            bindings::put_disk(self.disk.as_ptr());
            bindings::blk_mq_free_tag_set(self.set.get());
            c::ub_disk_index_free(self.index);
            if !self.registered {
                ((*self.hooks.as_ptr()).release)(self.hooks.as_ptr());
            }
        }
    }
}
