// SPDX-License-Identifier: GPL-2.0

//! The pure logic of `ub`'s driver layers, compiled from the module's own
//! source files (no copy) and tested on the host: files that use nothing but
//! `core` are included here with `#[path]`. The crate exists for its tests.

#![cfg_attr(not(test), no_std)]

#[cfg(test)]
#[path = "../../device/state.rs"]
mod state;

#[cfg(test)]
mod tests {
    mod state;
}
