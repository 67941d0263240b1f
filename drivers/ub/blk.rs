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
    sync::atomic::{AtomicBool, Ordering},
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
    /// Anything this driver does not support (discard, write zeroes, ...).
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
            other => Op::Other(other),
        }
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

    /// Completes the request.
    pub(crate) fn end(self, status: Status) {
        let rq = self.raw();
        core::mem::forget(self);
        // SAFETY: The request is started and owned by us; `forget` above makes this
        // the only completion.
        unsafe { bindings::blk_mq_end_request(rq, raw_status(status)) };
    }
}

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
    release: unsafe extern "C" fn(*mut Hooks),
}

impl Hooks {
    /// Allocates the hooks of a disk owned by `owner`; the returned pointer owns
    /// the allocation and the reference.
    fn alloc<T: QueueOps + Send>(owner: Arc<T>) -> Result<NonNull<Hooks>> {
        let owner = Arc::into_raw(owner);
        let hooks = KBox::new(
            Self {
                owner: owner.cast(),
                open: HooksTable::<T>::open,
                check_events: HooksTable::<T>::check_events,
                eject: HooksTable::<T>::eject,
                lock_door: HooksTable::<T>::lock_door,
                release: HooksTable::<T>::release,
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
}

struct OpsTable<T>(PhantomData<T>);

impl<T: QueueOps> OpsTable<T> {
    const OPS: bindings::blk_mq_ops = bindings::blk_mq_ops {
        queue_rq: Some(Self::queue_rq),
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
}

/// Queue limits and features of a disk.
pub(crate) struct Limits {
    /// Logical block size in bytes.
    pub(crate) logical_block_size: u32,
    /// Physical block size in bytes.
    pub(crate) physical_block_size: u32,
    /// Largest request, in 512-byte sectors.
    pub(crate) max_hw_sectors: u32,
    /// Most scatterlist entries per request.
    pub(crate) max_segments: u16,
    /// Every segment but the last must end on this boundary (mask), or 0.
    pub(crate) virt_boundary_mask: usize,
    /// Buffers must be aligned to this mask.
    pub(crate) dma_alignment: u32,
    /// The device has a volatile write cache: flushes are sent.
    pub(crate) write_cache: bool,
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
        let hooks = Hooks::alloc(owner)?;
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
        if lim.write_cache {
            // SAFETY: `ql` is a valid local.
            unsafe { c::ub_limits_set_write_cache(&mut ql) };
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
            (*disk).fops = c::ub_disk_fops();
            (*disk).private_data = hooks.as_ptr().cast();
            bindings::set_capacity(disk, capacity_sectors);
            if read_only {
                bindings::set_disk_ro(disk, true);
            }
            if removable {
                (*disk).flags |= bindings::GENHD_FL_REMOVABLE as ffi::c_int;
                (*disk).events = bindings::DISK_EVENT_MEDIA_CHANGE as u16;
                (*disk).event_flags = bindings::DISK_EVENT_FLAG_UEVENT as u16;
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

    /// Registers the disk below `parent`: it appears as `/dev/<name>` and its
    /// partitions are scanned.
    pub(crate) fn add(&mut self, parent: *mut bindings::device) -> Result {
        // SAFETY: The disk is allocated and not added; `parent` is a live device
        // that outlives the disk (the driver deletes the disk on unbind).
        to_result(unsafe {
            bindings::device_add_disk(parent, self.disk.as_ptr(), core::ptr::null_mut())
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
