// SPDX-License-Identifier: GPL-2.0

//! The disk's `private_data` (`struct ub_disk_hooks` in helpers.h): the
//! trampolines `ub_fops` (helpers_blk.c) calls into a [`QueueOps`] owner, the
//! reference to the owner that keeps it alive while the disk is, and the LUN
//! identification its `ub/` sysfs attributes show.

use core::{marker::PhantomData, ptr::NonNull};
use kernel::{bindings, ffi, prelude::*, sync::Arc, types::ForeignOwnable};

use super::{passthrough, DiskHandle, QueueOps};
use crate::kext::ffi as c;

/// The callbacks of `ub_fops` (helpers_blk.c) for one disk, reached through its
/// `private_data`: `struct ub_disk_hooks` in helpers.h. It holds a reference to the
/// disk's owner, so that a block device still open after the disk was deleted (an
/// unplugged stick) never calls into freed memory; the gendisk's `free_disk`
/// releases both.
#[repr(C)]
pub(super) struct Hooks {
    pub(super) owner: *const ffi::c_void,
    open: unsafe extern "C" fn(*const ffi::c_void, *mut bindings::gendisk, bool) -> ffi::c_int,
    check_events: unsafe extern "C" fn(*const ffi::c_void) -> ffi::c_uint,
    eject: unsafe extern "C" fn(*const ffi::c_void) -> ffi::c_int,
    lock_door: unsafe extern "C" fn(*const ffi::c_void, bool) -> ffi::c_int,
    sg_io: unsafe extern "C" fn(*const ffi::c_void, ffi::c_ulong, bool, ffi::c_uint) -> ffi::c_int,
    pub(super) release: unsafe extern "C" fn(*mut Hooks),
    pub(super) ident: LunIdent,
    max_sectors_cap: u32,
    /// The disk's index, freed with the disk (`ub_free_disk`), -1 before it
    /// has one.
    pub(super) index: ffi::c_int,
}

/// `struct ub_lun_ident` in helpers.h: NUL-terminated strings.
#[repr(C)]
pub(super) struct LunIdent {
    pub(super) vendor: [u8; 9],
    pub(super) model: [u8; 17],
    pub(super) rev: [u8; 5],
    pub(super) serial: [u8; 65],
    pub(super) lun: u8,
}

/// Checks that [`Hooks`] and [`LunIdent`] are laid out as the C compiler lays
/// out `struct ub_disk_hooks` and `struct ub_lun_ident` (helpers.h): the same
/// size and the same offset for every field. Nothing checks the copies at build
/// time (the C structs are not in the kernel's bindings); this runs once, at
/// module load, which fails with `EINVAL` on any difference.
pub(super) fn check_layout() -> Result {
    use core::mem::{offset_of, size_of};
    let ours = [
        size_of::<Hooks>(),
        offset_of!(Hooks, owner),
        offset_of!(Hooks, open),
        offset_of!(Hooks, check_events),
        offset_of!(Hooks, eject),
        offset_of!(Hooks, lock_door),
        offset_of!(Hooks, sg_io),
        offset_of!(Hooks, release),
        offset_of!(Hooks, ident),
        offset_of!(Hooks, max_sectors_cap),
        offset_of!(Hooks, index),
        size_of::<LunIdent>(),
        offset_of!(LunIdent, vendor),
        offset_of!(LunIdent, model),
        offset_of!(LunIdent, rev),
        offset_of!(LunIdent, serial),
        offset_of!(LunIdent, lun),
    ];
    let mut n: ffi::c_uint = 0;
    // SAFETY: The helper stores the length of its static array in `n` and
    // returns the array, which lives as long as the module.
    let theirs = unsafe {
        let p = c::ub_disk_hooks_layout(&mut n);
        core::slice::from_raw_parts(p, n as usize)
    };
    if theirs != ours.as_slice() {
        pr_err!(
            "struct ub_disk_hooks differs between helpers.h {:?} and kext/blk/hooks.rs {:?}\n",
            theirs,
            ours
        );
        return Err(EINVAL);
    }
    Ok(())
}

/// Copies `src` into `dst`, cut to leave room for the terminating NUL.
pub(super) fn copy_cstr(dst: &mut [u8], src: &[u8]) {
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
    pub(super) fn alloc<T: QueueOps + Send>(
        owner: Arc<T>,
        max_sectors_cap: u32,
    ) -> Result<NonNull<Hooks>> {
        let owner = owner.into_foreign();
        let hooks = KBox::new(
            Self {
                owner: owner.cast_const(),
                open: HooksTable::<T>::open,
                check_events: HooksTable::<T>::check_events,
                eject: HooksTable::<T>::eject,
                lock_door: HooksTable::<T>::lock_door,
                sg_io: HooksTable::<T>::sg_io,
                release: HooksTable::<T>::release,
                max_sectors_cap,
                index: -1,
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
                // SAFETY: `owner` came from `into_foreign` just above.
                drop(unsafe { Arc::<T>::from_foreign(owner) });
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
        // `alloc`, whose `owner` is an `Arc<T>` handed over with `into_foreign`.
        unsafe {
            let hooks = KBox::from_raw(hooks);
            drop(Arc::<T>::from_foreign(hooks.owner.cast_mut()));
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
        let owner = unsafe { <Arc<T> as ForeignOwnable>::borrow(owner.cast_mut()) };
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
        let owner = unsafe { <Arc<T> as ForeignOwnable>::borrow(owner.cast_mut()) };
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
        let owner = unsafe { <Arc<T> as ForeignOwnable>::borrow(owner.cast_mut()) };
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
        let owner = unsafe { <Arc<T> as ForeignOwnable>::borrow(owner.cast_mut()) };
        match owner.lock_door(lock) {
            Ok(()) => 0,
            Err(e) => e.to_errno(),
        }
    }

    /// # Safety
    ///
    /// `owner` is the `T` of a live disk; `arg` is the `SG_IO` ioctl's
    /// argument, a user-space address.
    unsafe extern "C" fn sg_io(
        owner: *const ffi::c_void,
        arg: ffi::c_ulong,
        compat: bool,
        max_bytes: ffi::c_uint,
    ) -> ffi::c_int {
        // SAFETY: By the function's contract.
        let owner = unsafe { <Arc<T> as ForeignOwnable>::borrow(owner.cast_mut()) };
        match passthrough::sg_io(|pt| owner.passthrough(pt), arg, compat, max_bytes) {
            Ok(()) => 0,
            Err(e) => e.to_errno(),
        }
    }
}
