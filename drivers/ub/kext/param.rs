// SPDX-License-Identifier: GPL-2.0

//! The module's string parameter, which the Rust module macro cannot declare.

use super::ffi as c;

/// The `quirks` module parameter (declared in helpers_usb.c: the module macro has no
/// string parameters), copied into `buf` under the parameter lock so that a
/// concurrent write through sysfs cannot tear it. Truncated to `buf`'s length
/// less one.
pub(crate) fn quirks_param(buf: &mut [u8]) -> &[u8] {
    // SAFETY: `buf` is writable for its length; the helper writes at most that many
    // bytes (NUL included) and returns the length of the string it wrote.
    let n = unsafe { c::ub_quirks_param(buf.as_mut_ptr().cast(), buf.len()) };
    buf.get(..n).unwrap_or(&[])
}
