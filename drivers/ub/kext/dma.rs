// SPDX-License-Identifier: GPL-2.0

//! Memory the USB core may DMA to or from ([`DmaBuf`]).

use kernel::{ffi, prelude::*};

/// A buffer that DMA may target: `kmalloc` memory, never the stack or vmalloc.
pub(crate) struct DmaBuf(KVec<u8>);

impl DmaBuf {
    /// A zeroed buffer of `len` bytes.
    pub(crate) fn new(len: usize) -> Result<Self> {
        Ok(Self(KVec::from_elem(0u8, len, GFP_KERNEL)?))
    }

    /// The whole buffer.
    pub(crate) fn as_slice(&self) -> &[u8] {
        &self.0
    }

    /// The whole buffer, writable.
    pub(crate) fn as_mut_slice(&mut self) -> &mut [u8] {
        &mut self.0
    }

    /// The buffer's address, for the USB core.
    pub(crate) fn as_mut_ptr(&mut self) -> *mut ffi::c_void {
        self.0.as_mut_ptr().cast()
    }
}
