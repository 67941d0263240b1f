// SPDX-License-Identifier: GPL-2.0

//! What a bound interface shows outside the driver: its identification, counter
//! and timeout attributes in sysfs (the files are helpers_usb.c's, the values
//! Rust's) and its dynamic-debug lines.

use kernel::{error::to_result, ffi, prelude::*, sync::Arc, types::ForeignOwnable};

use super::Interface;
use crate::kext::ffi as c;

/// The interface's tables of values (helpers_usb.c's `UB_STATS`, `UB_KNOBS`).
const TABLE_STATS: ffi::c_uint = 0;
const TABLE_KNOBS: ffi::c_uint = 1;

/// Read-only 64-bit counters shown in the interface's `ub_stats/` directory,
/// one file each.
pub(crate) trait SysfsCounters: Send + Sync + 'static {
    /// How many there are (at most 32).
    const COUNT: usize;

    /// The name of counter `index`'s file.
    fn name(index: usize) -> &'static CStr;

    /// Counter `index`.
    fn read(&self, index: usize) -> u64;
}

/// Read-write millisecond values shown as files of the interface.
pub(crate) trait SysfsKnobs: Send + Sync + 'static {
    /// How many there are (at most 32).
    const COUNT: usize;

    /// The name of value `index`'s file.
    fn name(index: usize) -> &'static CStr;

    /// Value `index`, `None` if there is none such.
    fn get(&self, index: usize) -> Option<u32>;

    /// Sets value `index` to `ms`; an error fails the write.
    fn set(&self, index: usize, ms: u32) -> Result;
}

/// The name of counter `index` of `C`, for helpers_usb.c.
pub(super) extern "C" fn counter_name<C: SysfsCounters>(index: ffi::c_uint) -> *const ffi::c_char {
    C::name(index as usize).as_char_ptr()
}

/// The name of value `index` of `K`, for helpers_usb.c.
pub(super) extern "C" fn knob_name<K: SysfsKnobs>(index: ffi::c_uint) -> *const ffi::c_char {
    K::name(index as usize).as_char_ptr()
}

/// Drops the reference a table's owner stands for.
///
/// # Safety
///
/// `owner` is a pointer `publish_*` got from `into_foreign` for an `Arc<T>`
/// and handed to the C side, which calls this once; it is not used after.
unsafe extern "C" fn release<T: Send + Sync + 'static>(owner: *const ffi::c_void) {
    // SAFETY: By the function's contract.
    drop(unsafe { Arc::<T>::from_foreign(owner.cast_mut()) });
}

impl Interface {
    /// Records the device's identification (INQUIRY vendor, product, revision;
    /// the USB serial number) and the quirk letters in force for the
    /// interface's sysfs attributes `vendor`, `model`, `rev`, `serial` and
    /// `quirks`, which the driver core adds once probe has succeeded. Call from
    /// probe; the record goes when the interface is unbound.
    pub(crate) fn set_ident(
        &self,
        vendor: &[u8],
        model: &[u8],
        rev: &[u8],
        quirks: &str,
    ) -> Result {
        // SAFETY: The interface is valid; the helper copies the bytes (at most the
        // given lengths) into a devres of the interface.
        to_result(unsafe {
            c::ub_ident_set(
                self.as_raw(),
                vendor.as_ptr().cast(),
                vendor.len(),
                model.as_ptr().cast(),
                model.len(),
                rev.as_ptr().cast(),
                rev.len(),
                quirks.as_ptr().cast(),
                quirks.len(),
            )
        })
    }

    /// Replaces the text of the interface's `quirks` attribute (the driver
    /// learned a quirk). `ENODEV` before [`Interface::set_ident`].
    pub(crate) fn set_quirks_text(&self, quirks: &str) -> Result {
        // SAFETY: The interface is valid; the helper copies at most `len`
        // bytes into its devres, under its lock.
        to_result(unsafe {
            c::ub_ident_set_quirks(self.as_raw(), quirks.as_ptr().cast(), quirks.len())
        })
    }

    /// Hands a reference to `counters` to the interface's `ub_stats/` sysfs
    /// files, which the driver core adds once probe has succeeded. Call from
    /// probe; the reference is dropped when the interface is unbound. `C` is
    /// the type the driver registered ([`super::Driver::Counters`]).
    pub(crate) fn publish_counters<C: SysfsCounters>(&self, counters: Arc<C>) -> Result {
        /// Counter `index` of `owner`, for a sysfs file.
        ///
        /// # Safety
        ///
        /// `owner` is a pointer `publish_counters` handed to the C side, not
        /// yet released.
        unsafe extern "C" fn read<C: SysfsCounters>(
            owner: *const ffi::c_void,
            index: ffi::c_uint,
        ) -> u64 {
            // SAFETY: `owner` is the pointer `publish_counters` got from
            // `into_foreign`, whose reference is dropped only by `release`,
            // after the sysfs files are gone.
            let c = unsafe { <Arc<C> as ForeignOwnable>::borrow(owner.cast_mut()) };
            c.read(index as usize)
        }
        let owner = counters.into_foreign().cast_const();
        // SAFETY: The interface is valid; the helper keeps `owner` in a devres
        // of the interface and calls `release` exactly once, on failure too.
        to_result(unsafe {
            c::ub_values_set(
                self.as_raw(),
                TABLE_STATS,
                owner,
                read::<C>,
                None,
                release::<C>,
            )
        })
    }

    /// Hands a reference to `knobs` to the interface's read-write timeout
    /// attributes (`cbw_timeout_ms`...), which the driver core adds once probe
    /// has succeeded. Call from probe; the reference is dropped at unbind. `K`
    /// is the type the driver registered ([`super::Driver::Knobs`]).
    pub(crate) fn publish_knobs<K: SysfsKnobs>(&self, knobs: Arc<K>) -> Result {
        /// Value `index` of `owner`, for a sysfs file.
        ///
        /// # Safety
        ///
        /// `owner` is a pointer `publish_knobs` handed to the C side, not yet
        /// released.
        unsafe extern "C" fn read<K: SysfsKnobs>(
            owner: *const ffi::c_void,
            index: ffi::c_uint,
        ) -> u64 {
            // SAFETY: `owner` is the pointer `publish_knobs` got from
            // `into_foreign`, whose reference is dropped only by `release`,
            // after the sysfs files are gone.
            let k = unsafe { <Arc<K> as ForeignOwnable>::borrow(owner.cast_mut()) };
            k.get(index as usize).unwrap_or(0).into()
        }
        /// Sets value `index` of `owner` to `ms`; 0 or a negative errno.
        ///
        /// # Safety
        ///
        /// As for `read`.
        unsafe extern "C" fn write<K: SysfsKnobs>(
            owner: *const ffi::c_void,
            index: ffi::c_uint,
            ms: ffi::c_uint,
        ) -> ffi::c_int {
            // SAFETY: As in `read`.
            let k = unsafe { <Arc<K> as ForeignOwnable>::borrow(owner.cast_mut()) };
            match k.set(index as usize, ms) {
                Ok(()) => 0,
                Err(e) => e.to_errno(),
            }
        }
        let owner = knobs.into_foreign().cast_const();
        // SAFETY: The interface is valid; the helper keeps `owner` in a devres
        // of the interface and calls `release` exactly once, on failure too.
        to_result(unsafe {
            c::ub_values_set(
                self.as_raw(),
                TABLE_KNOBS,
                owner,
                read::<K>,
                Some(write::<K>),
                release::<K>,
            )
        })
    }
}

impl Interface {
    /// Dynamic-debug line for a CBW sent.
    pub(crate) fn trace_cbw(&self, tag: u32, lun: u8, opcode: u8, len: u32, is_in: bool) {
        // SAFETY: The interface is valid; the helper only prints.
        unsafe { c::ub_dbg_cbw(self.as_raw(), tag, lun, opcode, len, is_in) };
    }

    /// Dynamic-debug line for a data stage done: `moved` of `len` bytes, the
    /// transfer's status as an errno (0 on success).
    pub(crate) fn trace_data(&self, tag: u32, len: u32, moved: usize, status: i32) {
        // SAFETY: The interface is valid; the helper only prints.
        unsafe { c::ub_dbg_data(self.as_raw(), tag, len, moved, status) };
    }

    /// Dynamic-debug line for a CSW received.
    pub(crate) fn trace_csw(&self, tag: u32, residue: u32, status: u8) {
        // SAFETY: The interface is valid; the helper only prints.
        unsafe { c::ub_dbg_csw(self.as_raw(), tag, residue, status) };
    }

    /// Dynamic-debug line for a command that ended without a valid CSW.
    pub(crate) fn trace_error(&self, tag: u32, stage: &str, fault: &str) {
        let len = |s: &str| ffi::c_int::try_from(s.len()).unwrap_or(0);
        // SAFETY: The interface is valid; the helper prints at most the given
        // number of bytes of each string.
        unsafe {
            c::ub_dbg_error(
                self.as_raw(),
                tag,
                stage.as_ptr().cast(),
                len(stage),
                fault.as_ptr().cast(),
                len(fault),
            )
        };
    }
}
