// SPDX-License-Identifier: GPL-2.0

//! A LUN whose medium changed: probed again at the next open, its disk's
//! capacity, write protection and cache updated, or emptied.

use core::sync::atomic::Ordering;
use kernel::prelude::*;

use super::{bound::UbDevice, lun::LunPrefix};
use crate::{block::probe, kext::blk::DiskHandle};

impl UbDevice {
    pub(super) fn revalidate(&self, lun: u8, disk: &DiskHandle) {
        let Some(p) = self.luns.get(usize::from(lun)) else {
            return;
        };
        let who = LunPrefix(lun);
        let info = self.with_usable_io(|io| {
            probe::probe_lun(
                io,
                lun,
                self.intf.device(),
                io.quirks(),
                self.fixed_inquiry(),
            )
        });
        let shift = p.block_shift.load(Ordering::Relaxed);
        // No usable medium (none, or one the disk cannot take): size 0.
        let no_medium = || {
            disk.set_capacity(0);
            p.blocks.store(0, Ordering::Relaxed);
            p.resize_to.store(0, Ordering::Relaxed);
            p.medium.store(false, Ordering::Release);
        };
        match info.map(|i| (i.capacity, i.read_only, i.write_cache, i.fua)) {
            Ok((Some(cap), ro, wc, fua)) if cap.block_size.trailing_zeros() == shift => {
                disk.set_capacity(cap.bytes() >> 9);
                p.blocks.store(cap.blocks, Ordering::Relaxed);
                p.resize_to.store(0, Ordering::Relaxed);
                disk.set_read_only(ro);
                // Like capacity and write protection, the cache belongs to the
                // medium: a card with a volatile cache needs SYNCHRONIZE CACHE
                // even if the reader was probed empty.
                let was = p.write_cache.swap(wc, Ordering::AcqRel);
                let was_fua = p.fua.swap(fua, Ordering::AcqRel);
                if was != wc || was_fua != fua {
                    if let Err(e) = disk.set_write_cache(wc, fua) {
                        dev_warn!(
                            self.intf.device(),
                            "{}cannot update the queue's write cache setting (error {})\n",
                            who,
                            e.to_errno()
                        );
                    }
                }
                p.medium.store(true, Ordering::Release);
                p.stale.store(false, Ordering::Release);
                dev_info!(
                    self.intf.device(),
                    "{}new medium: {} {}-byte blocks ({} MiB){}, {}\n",
                    who,
                    cap.blocks,
                    cap.block_size,
                    cap.bytes() >> 20,
                    if ro { ", read-only" } else { "" },
                    if wc { "write cache" } else { "no write cache" }
                );
            }
            Ok((Some(cap), _, _, _)) => {
                // The queue limits are fixed while the disk exists.
                no_medium();
                dev_warn!(
                    self.intf.device(),
                    "{}the new medium has {}-byte blocks, the disk {}: unbind and bind the device to use it\n",
                    who,
                    cap.block_size,
                    1u32 << shift
                );
            }
            Ok((None, _, _, _)) => {
                no_medium();
                // Nothing to protect until a medium comes (and is revalidated).
                p.stale.store(false, Ordering::Release);
                dev_info!(self.intf.device(), "{}no medium\n", who);
            }
            Err(e) => {
                no_medium();
                dev_err!(
                    self.intf.device(),
                    "{}the new medium cannot be used (error {})\n",
                    who,
                    e.to_errno()
                );
            }
        }
    }
}
