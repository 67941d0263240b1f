// SPDX-License-Identifier: GPL-2.0

//! The kernel layer: what `ub` needs of the kernel that the kernel crate does not
//! offer yet, as safe types over `bindings` and the bundled C. Together with
//! `usbcore_sg/` this is the only place with `unsafe` code; the Bulk-Only engine
//! ([`crate::bot`]) and the block driver above it are safe Rust.
//!
//! - [`usb`]: the driver registration with reset and power callbacks, the
//!   interface, its device, pipes and synchronous transfers, the port reset.
//! - [`urb`], [`urbset`]: URBs the driver owns, coherent buffers, and a set
//!   of URBs that one handler completes, used a session at a time.
//! - [`blk`]: blk-mq tag set, gendisk, requests, block device operations.
//! - [`sg`]: scatterlists, and what a URB needs of one mapped for DMA.
//! - [`task`], [`ratelimit`], [`param`]: the worker's queue, the no-I/O scope,
//!   log rate limits, the string module parameter.
//! - [`ffi`]: the declarations of `helpers_blk.c`, `helpers_usb.c` and
//!   `usbcore_sg.c`, used only here.

pub(crate) mod blk;
pub(crate) mod dma;
pub(crate) mod ffi;
pub(crate) mod param;
pub(crate) mod ratelimit;
pub(crate) mod sg;
pub(crate) mod task;
pub(crate) mod urb;
pub(crate) mod urbset;
pub(crate) mod usb;
