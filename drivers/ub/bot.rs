// SPDX-License-Identifier: GPL-2.0

//! The Bulk-Only engine (USB MSC BOT 1.0): one command from CBW to CSW and what
//! happens when it does not end with a valid CSW. Safe Rust over the kernel
//! layer ([`crate::kext`]) and `usbcore_sg`; it knows commands, stages and
//! faults, not block requests.
//!
//! - [`transport`]: the transport of one device ([`Bot`]), a command's start
//!   and outcome, class requests, resets, the backoff of a device given up.
//! - [`exchange`]: the stages of one command and the checks of its CSW.
//! - [`chain`]: the stages on three preallocated URBs, each submitted from the
//!   completion of the one before; [`stages`]: its decisions, pure.
//! - [`recovery`], [`ladder`]: the recovery ladder between commands.
//! - [`residue`]: what a CSW's residue is taken to mean.
//! - [`learned`]: quirks learned from what the device does.
//! - [`outcome`], [`timeouts`]: how a command ends, and its time limits.
//! - [`quirks`], [`knobs`], [`counters`]: what a device is configured with
//!   (usb-storage's quirk flags, most of them transport quirks; the stage
//!   timeouts in sysfs) and what it counts (`ub_stats`). The block driver
//!   reads and adds to them; they sit here because the engine is their first
//!   user and must not import anything above it.

mod chain;
pub(crate) mod counters;
mod data;
mod exchange;
pub(crate) mod knobs;
mod ladder;
mod learned;
mod outcome;
pub(crate) mod quirks;
mod recovery;
mod residue;
mod stages;
mod timeouts;
mod transport;

use chain::{Chain, Stages};

pub(crate) use data::Data;
pub(crate) use outcome::{Fault, Outcome, Stage, TransportError};
pub(crate) use recovery::Recovery;
pub(crate) use timeouts::Timeouts;
pub(crate) use transport::{Bot, Setup};
