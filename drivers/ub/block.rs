// SPDX-License-Identifier: GPL-2.0

//! The block driver: a bound device's LUNs as blk-mq disks. Safe Rust over the
//! Bulk-Only engine ([`crate::bot`]) and the kernel layer ([`crate::kext`]).
//!
//! - [`device`]: the bound device, its requests (run by the submitter when the
//!   device is idle, else by its worker), media polling and PM.
//! - [`exec`]: the command executor: auto-sense, recovery between tries,
//!   retries, the driver's own commands.
//! - [`luns`]: a device's LUNs, [`probe`] one of them, [`disk`] its disk.

pub(crate) mod device;
pub(crate) mod disk;
pub(crate) mod exec;
pub(crate) mod luns;
pub(crate) mod probe;
