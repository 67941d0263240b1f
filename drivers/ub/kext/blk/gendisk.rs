// SPDX-License-Identifier: GPL-2.0

//! A blk-mq disk ([`Disk`]): its tag set with our `blk_mq_ops`, its queue
//! limits and features ([`Limits`]), its gendisk with an `ub` name, a major of
//! the module's own ([`Major`]), capacity, read-only flag and parent device.

use core::{
    ptr::NonNull,
    sync::atomic::{AtomicBool, AtomicU32, Ordering},
};
use kernel::{bindings, error::to_result, ffi, prelude::*, sync::Arc, types::Opaque};

use super::{copy_cstr, DiskIdent, Hooks, OpsTable, QueueOps};
use crate::kext::ffi as c;

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
/// by the disk once it was added (its `free_disk` releases them and the disk's
/// index in them) and by this struct before; `added` tells whether the disk is
/// added and not deleted yet, `registered` whether it was ever added.
pub(crate) struct Disk {
    set: Pin<KBox<Opaque<bindings::blk_mq_tag_set>>>,
    hooks: NonNull<Hooks>,
    registered: bool,
    disk: NonNull<bindings::gendisk>,
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
        // Before any disk can be made with them: the hooks' copy of the C
        // struct must match it.
        super::hooks::check_layout()?;
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
        let hooks = Hooks::alloc(owner, lim.max_hw_sectors_cap)?;
        // SAFETY: Allocated just above; nothing else uses the hooks yet.
        let owner_ptr = unsafe { (*hooks.as_ptr()).owner };
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
                    // `queue_rq` may sleep: an idle device's request is run by
                    // the task that submitted it (see `QueueOps::queue_rq`).
                    (*set).flags = bindings::BLK_MQ_F_BLOCKING;
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
        // SAFETY: `disk` is a freshly allocated gendisk that nothing else uses
        // yet, and the hooks are ours until it is added.
        unsafe {
            (*hooks.as_ptr()).index = index;
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
        // An added disk releases the hooks and its index from its `free_disk`
        // (now, or when the last opener closes it); one never added does not
        // call it, and its hooks are still ours.
        unsafe {
            bindings::put_disk(self.disk.as_ptr());
            bindings::blk_mq_free_tag_set(self.set.get());
            if !self.registered {
                c::ub_disk_index_free((*self.hooks.as_ptr()).index);
                ((*self.hooks.as_ptr()).release)(self.hooks.as_ptr());
            }
        }
    }
}
