// SPDX-License-Identifier: GPL-2.0

//! Quirks learned at run time ([`Bot::learn`]): a device that is in no table
//! shows a misbehaviour a quirk letter is for, unambiguously; from then on,
//! while it is bound, `ub` treats it as if that letter had been given, says
//! so once with the `quirks=` entry that would make it permanent, and shows
//! it in the interface's `quirks` file after `learned:`. What may be learned
//! and from what evidence is the callers' (Documentation/ub.rst lists it):
//! nothing that would weaken data safety.

use kernel::prelude::*;

use super::Bot;
use crate::{
    bot::quirks::{Quirks, QUIRKS_TEXT},
    scsi::cdb::Cdb,
};

impl Bot {
    /// The quirks in force: those configured and those learned.
    pub(crate) fn quirks(&self) -> Quirks {
        self.configured.union(self.learned)
    }

    /// The text of the interface's `quirks` file, into `out`.
    pub(crate) fn quirks_text<'a>(&self, out: &'a mut [u8; QUIRKS_TEXT]) -> &'a str {
        self.configured.describe(self.learned, out)
    }

    /// Quirk `T`: `cdb` got a CSW with another command's tag, and so did the
    /// TEST UNIT READY right after a reset. After a reset no earlier command's
    /// CSW can still come: the device does not echo tags. Whether it was
    /// learned now (the caller checks again).
    pub(super) fn learn_ignore_tag(&mut self, cdb: &Cdb) -> bool {
        self.learn(
            Quirks::BULK_IGNORE_TAG,
            format_args!(
                "CSWs with another tag for {} and for the TEST UNIT READY right after a reset",
                cdb.name()
            ),
        )
    }

    /// The device showed, as `evidence` says, the misbehaviour `q` is for:
    /// treat it so from now on. Whether `q` is new (neither configured nor
    /// learned before); only then is it logged, once, and shown in sysfs.
    pub(crate) fn learn(&mut self, q: Quirks, evidence: core::fmt::Arguments<'_>) -> bool {
        if self.quirks().contains(q) {
            return false;
        }
        self.learned = self.learned.union(q);
        let mut this = [0u8; 32];
        let mut all = [0u8; 32];
        dev_warn!(
            self.intf.device(),
            "learned quirk {}: {}; quirks={:04x}:{:04x}:{} makes it permanent\n",
            q.letters(&mut this),
            evidence,
            self.udev.vendor_id(),
            self.udev.product_id(),
            self.quirks().letters(&mut all)
        );
        let mut text = [0u8; QUIRKS_TEXT];
        // Before the probe recorded the interface's identification there is
        // nothing to update: it records this text then.
        let _ = self.intf.set_quirks_text(self.quirks_text(&mut text));
        true
    }
}
