// SPDX-License-Identifier: GPL-2.0

//! The blk-mq layer the kernel crate does not have yet (`kernel::block::mq`
//! offers only `end_ok` completions and block sizes). This module is the only
//! place `ub` touches `struct request`, `struct gendisk` and
//! `struct blk_mq_tag_set`.

mod gendisk;
mod hooks;
mod ops;
mod passthrough;
mod request;

pub(crate) use gendisk::{Disk, Limits, Major};
pub(crate) use hooks::DiskIdent;
pub(crate) use ops::{DiskHandle, QueueOps};
pub(crate) use passthrough::{Passthrough, PtDir};
pub(crate) use request::{Expiry, Op, Request, RequestId, Status};

use hooks::{copy_cstr, Hooks};
use ops::OpsTable;
use request::raw_status;
