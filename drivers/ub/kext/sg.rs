// SPDX-License-Identifier: GPL-2.0

//! Scatterlists: a table preallocated for a device's largest transfer
//! ([`SgTable`]), filled from a block request or pointed at one buffer
//! ([`Segments`]), and what a URB needs of one that is ready for DMA
//! ([`UrbSg`], which `usbcore_sg`'s mapping provides). Nothing here knows USB:
//! the block layer fills these, and `usbcore_sg` maps them for a host
//! controller.

use kernel::{alloc::KVec, bindings, ffi, prelude::*};

use super::dma::DmaBuf;

/// A scatterlist preallocated for a device's largest transfer.
pub(crate) struct SgTable {
    entries: KVec<bindings::scatterlist>,
}

// SAFETY: The scatterlist only holds page pointers and lengths; it is used by one
// thread at a time (it is only reachable through `&mut`).
unsafe impl Send for SgTable {}

impl SgTable {
    /// Allocates room for `capacity` entries.
    pub(crate) fn new(capacity: usize) -> Result<Self> {
        let mut entries = KVec::with_capacity(capacity, GFP_KERNEL)?;
        for _ in 0..capacity {
            entries.push(bindings::scatterlist::default(), GFP_KERNEL)?;
        }
        Ok(Self { entries })
    }

    /// Reinitialises the table and returns it for a filler such as
    /// `blk_rq_map_sg()`, with its capacity.
    pub(crate) fn reset(&mut self) -> (*mut bindings::scatterlist, usize) {
        let n = self.entries.len();
        // SAFETY: `entries` holds `n` scatterlist entries owned by us.
        unsafe { bindings::sg_init_table(self.entries.as_mut_ptr(), n as ffi::c_uint) };
        (self.entries.as_mut_ptr(), n)
    }

    /// Points the table's first entry at the first `len` bytes of `buf` and
    /// returns that one-entry list.
    pub(crate) fn one<'a>(&'a mut self, buf: &'a mut DmaBuf, len: usize) -> Result<Segments<'a>> {
        if len == 0 || len > buf.as_slice().len() || self.entries.is_empty() {
            return Err(EINVAL);
        }
        let len = u32::try_from(len)?;
        // SAFETY: The table has at least one entry; `buf` is kmalloc memory of at
        // least `len` bytes, borrowed for as long as the returned `Segments`.
        unsafe { bindings::sg_init_one(self.entries.as_mut_ptr(), buf.as_mut_ptr(), len) };
        Ok(Segments {
            table: self,
            nents: 1,
        })
    }

    /// Wraps the first `nents` entries, as filled after [`SgTable::reset`].
    pub(crate) fn filled(&mut self, nents: usize) -> Result<Segments<'_>> {
        if nents == 0 || nents > self.entries.len() {
            return Err(EINVAL);
        }
        Ok(Segments { table: self, nents })
    }
}

/// The filled part of an [`SgTable`].
pub(crate) struct Segments<'a> {
    table: &'a mut SgTable,
    nents: usize,
}

impl Segments<'_> {
    /// The first entry: with [`Segments::nents`], what a DMA mapping or a URB
    /// takes.
    pub(crate) fn as_mut_ptr(&mut self) -> *mut bindings::scatterlist {
        self.table.entries.as_mut_ptr()
    }

    /// How many entries are filled.
    pub(crate) fn nents(&self) -> usize {
        self.nents
    }

    /// Copies the first bytes the segments hold into `out`; returns how many. Only
    /// meaningful when no DMA mapping of the segments is live (the CPU view).
    pub(crate) fn copy_prefix(&mut self, out: &mut [u8]) -> usize {
        let nents = self.nents as ffi::c_uint;
        // SAFETY: The first `nents` entries are initialised and point at memory
        // borrowed for `'_`; `out` is a valid buffer of `out.len()` bytes.
        unsafe {
            bindings::sg_copy_to_buffer(
                self.as_mut_ptr(),
                nents,
                out.as_mut_ptr().cast(),
                out.len(),
            )
        }
    }
}

/// A scatterlist ready for a URB's data stage.
///
/// # Safety
///
/// What [`UrbSg::raw`] returns must stay valid for as long as the implementor
/// is borrowed: a scatterlist of that many initialised entries whose memory is
/// alive, and, when the count of DMA entries is `Some`, mapped for DMA for the
/// URB's device (else the host controller driver maps it at submission).
pub(crate) unsafe trait UrbSg {
    /// The scatterlist, its number of entries and, when mapped by the driver,
    /// the number of DMA entries.
    fn raw(&mut self) -> (*mut bindings::scatterlist, ffi::c_int, Option<ffi::c_int>);
}
