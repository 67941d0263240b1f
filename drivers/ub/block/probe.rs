// SPDX-License-Identifier: GPL-2.0

//! LUN discovery: INQUIRY, TEST UNIT READY until ready, READ CAPACITY(10) and (16)
//! when (10) says the disk is too large for it, MODE SENSE for write protection
//! and the caching page, the VPD pages a device claiming SPC-3 lists (serial
//! number, rotation, discard), each as the device's quirks allow. Runs before the
//! disk exists, under the I/O lock.

use kernel::{
    device::Device,
    prelude::*,
    str::BStr,
    time::{delay::fsleep, Delta},
};

use crate::{
    block::exec::{CmdError, Executor},
    bot::quirks::Quirks,
    scsi::{
        capacity::{
            Capacity, CapacityError, ReadCapacity10, ReadCapacity16, READ_CAPACITY_10_LEN,
            READ_CAPACITY_16_LEN,
        },
        cdb::{self, PageControl, MODE_PAGE_ALL, MODE_PAGE_CACHING},
        inquiry::{
            parse_rotation_rate, parse_unit_serial, trim_field, vpd_lists_page, Inquiry,
            DEVICE_TYPE_DISK, DEVICE_TYPE_RBC, INQUIRY_STD_LEN, ROTATION_RATE_NON_ROTATING,
            VERSION_SPC3, VPD_BLOCK_CHARACTERISTICS, VPD_SUPPORTED_PAGES, VPD_UNIT_SERIAL,
        },
        mode::ModeData,
        provisioning::{
            self, parse_block_limits, parse_lb_provisioning, Discard, VPD_BLOCK_LIMITS,
            VPD_LB_PROVISIONING,
        },
        sense::Retry,
    },
};

/// TEST UNIT READY tries while the device becomes ready (100 ms apart).
const READY_TRIES: u32 = 50;
/// MODE SENSE(6) allocation length (the most a one-byte length can ask for, less
/// the header slack some devices mishandle; sd uses 192 too).
const MODE_SENSE_LEN: u8 = 192;

/// Bytes of a unit serial number kept (longer ones are cut).
const SERIAL_MAX: usize = 64;
/// INQUIRY allocation length for a VPD page.
const VPD_LEN: usize = 255;

/// INQUIRY identification, space-trimmed, and the unit serial number (VPD page
/// 0x80) if the LUN offers one.
pub(crate) struct Ident {
    bytes: [u8; 28],
    vendor: usize,
    product: usize,
    revision: usize,
    serial: [u8; SERIAL_MAX],
    serial_len: usize,
}

impl Ident {
    pub(super) fn new(inq: &Inquiry<'_>) -> Self {
        let mut id = Self {
            bytes: [0; 28],
            vendor: 0,
            product: 0,
            revision: 0,
            serial: [0; SERIAL_MAX],
            serial_len: 0,
        };
        let mut at = 0;
        for (field, len) in [
            (inq.vendor(), &mut id.vendor),
            (inq.product(), &mut id.product),
            (inq.revision(), &mut id.revision),
        ] {
            let f = trim_field(field.unwrap_or(&[]));
            let n = f.len().min(id.bytes.len() - at);
            id.bytes[at..at + n].copy_from_slice(&f[..n]);
            *len = n;
            at += n;
        }
        id
    }

    fn field(&self, skip: usize, len: usize) -> &BStr {
        BStr::from_bytes(self.bytes.get(skip..skip + len).unwrap_or(&[]))
    }

    /// Vendor identification.
    pub(crate) fn vendor(&self) -> &BStr {
        self.field(0, self.vendor)
    }

    /// Product identification.
    pub(crate) fn product(&self) -> &BStr {
        self.field(self.vendor, self.product)
    }

    /// Product revision level.
    pub(crate) fn revision(&self) -> &BStr {
        self.field(self.vendor + self.product, self.revision)
    }

    /// The unit serial number (VPD page 0x80); empty if the LUN has none.
    pub(crate) fn serial(&self) -> &BStr {
        BStr::from_bytes(self.serial.get(..self.serial_len).unwrap_or(&[]))
    }

    fn set_serial(&mut self, serial: &[u8]) {
        // Printable ASCII only: the serial becomes a sysfs value and a udev link.
        let mut n = 0;
        for (d, &b) in self.serial.iter_mut().zip(serial.iter()) {
            *d = if b.is_ascii_graphic() { b } else { b'_' };
            n += 1;
        }
        self.serial_len = n;
    }
}

/// What the vital product data pages of a LUN say about its medium.
struct Vpd {
    /// The medium rotates: `true`, sd's default, unless page 0xB1 says not.
    rotational: bool,
    /// How it discards, when pages 0xB2 and 0xB0 say it can.
    discard: Option<Discard>,
}

/// INQUIRY of VPD page `page` into the command buffer (`Executor::data`); the bytes returned, or `None`.
fn vpd_page(io: &mut Executor, lun: u8, page: u8) -> Option<&[u8]> {
    let n = io
        .data_in(lun, &cdb::inquiry(Some(page), VPD_LEN as u16), VPD_LEN)
        .ok()?;
    io.data().get(..n)
}

/// What the vital product data pages of `lun` say, when it offers them: only
/// asked of devices claiming SPC-3 or later (for which the Supported VPD Pages
/// page is mandatory), and only the pages listed there. usb-storage never asks
/// (some old devices hang on VPD requests); `ub` asks only what the device says
/// it supports. Fills the unit serial number (page 0x80) into `ident`.
fn read_vpd(io: &mut Executor, lun: u8, version: u8, ident: &mut Ident) -> Vpd {
    let mut vpd = Vpd {
        rotational: true,
        discard: None,
    };
    if version < VERSION_SPC3 {
        return vpd;
    }
    let Some(pages) = vpd_page(io, lun, VPD_SUPPORTED_PAGES) else {
        return vpd;
    };
    let lists = |page| vpd_lists_page(pages, page) == Ok(true);
    let (serial, characteristics, limits, provisioning) = (
        lists(VPD_UNIT_SERIAL),
        lists(VPD_BLOCK_CHARACTERISTICS),
        lists(VPD_BLOCK_LIMITS),
        lists(VPD_LB_PROVISIONING),
    );
    if serial {
        if let Some(Ok(serial)) = vpd_page(io, lun, VPD_UNIT_SERIAL).map(parse_unit_serial) {
            ident.set_serial(serial);
        }
    }
    if characteristics {
        let rate =
            vpd_page(io, lun, VPD_BLOCK_CHARACTERISTICS).and_then(|p| parse_rotation_rate(p).ok());
        vpd.rotational = rate != Some(ROTATION_RATE_NON_ROTATING);
    }
    // Discard needs both pages: which commands unmap, and how much at once.
    if limits && provisioning {
        let p = vpd_page(io, lun, VPD_LB_PROVISIONING).and_then(|p| parse_lb_provisioning(p).ok());
        let l = vpd_page(io, lun, VPD_BLOCK_LIMITS).and_then(|p| parse_block_limits(p).ok());
        if let (Some(p), Some(l)) = (p, l) {
            vpd.discard = provisioning::discard(&p, &l);
        }
    }
    vpd
}

/// What the driver learned about a LUN.
pub(crate) struct LunInfo {
    /// INQUIRY vendor, product, revision.
    pub(crate) ident: Ident,
    /// INQUIRY RMB: removable medium.
    pub(crate) removable: bool,
    /// Size and block size; `None` when no medium is present.
    pub(crate) capacity: Option<Capacity>,
    /// Physical block size (READ CAPACITY(16)), else the logical one.
    pub(crate) physical_block_size: u32,
    /// The medium is write protected.
    pub(crate) read_only: bool,
    /// The device has a volatile write cache (caching page WCE).
    pub(crate) write_cache: bool,
    /// Writes may carry FUA (MODE SENSE DPOFUA, with a write cache).
    pub(crate) fua: bool,
    /// The medium rotates (unless VPD page 0xB1 says it does not).
    pub(crate) rotational: bool,
    /// How the LUN discards; `None` when it cannot (or quirk `D`).
    pub(crate) discard: Option<Discard>,
}

fn log_fail(dev: &Device, what: &str, e: &CmdError) -> Error {
    match e {
        CmdError::Sense(Some(s)) => dev_err!(
            dev,
            "{} failed: sense {:?} {:02x}/{:02x}\n",
            what,
            s.key,
            s.asc,
            s.ascq
        ),
        CmdError::Sense(None) => dev_err!(dev, "{} failed without sense data\n", what),
        CmdError::Transport(t) | CmdError::Hangs(t) => {
            dev_err!(dev, "{} failed: {:?}\n", what, t)
        }
    }
    EIO
}

/// Probes `lun`. Errors are logged on `dev`, the interface's device.
/// `fixed_inquiry`: quirk I's INQUIRY data, used instead of asking.
pub(crate) fn probe_lun(
    io: &mut Executor,
    lun: u8,
    dev: &Device,
    quirks: Quirks,
    fixed_inquiry: Option<&[u8; INQUIRY_STD_LEN]>,
) -> Result<LunInfo> {
    // Quirk I: the device's INQUIRY cannot be trusted (or hangs it); use the
    // answer usb-storage makes up for it instead of asking.
    let n = match fixed_inquiry.copied() {
        Some(fixed) => {
            let n = fixed.len();
            if let Some(dst) = io.data_mut().get_mut(..n) {
                dst.copy_from_slice(&fixed);
            }
            n
        }
        None => io
            .data_in(
                lun,
                &cdb::inquiry(None, INQUIRY_STD_LEN as u16),
                INQUIRY_STD_LEN,
            )
            .map_err(|e| log_fail(dev, "INQUIRY", &e))?,
    };
    let (mut ident, removable, version) = {
        let inq = Inquiry::parse(io.data().get(..n).unwrap_or(&[])).map_err(|_| {
            dev_err!(dev, "INQUIRY returned {} bytes, too short\n", n);
            EIO
        })?;
        if !inq.is_connected()
            || (inq.device_type != DEVICE_TYPE_DISK && inq.device_type != DEVICE_TYPE_RBC)
        {
            dev_err!(
                dev,
                "LUN {} is not a direct-access block device (type {:#04x}, qualifier {})\n",
                lun,
                inq.device_type,
                inq.qualifier
            );
            return Err(ENODEV);
        }
        (Ident::new(&inq), inq.removable, inq.version)
    };
    let vpd = read_vpd(io, lun, version, &mut ident);

    let medium = wait_ready(io, lun, dev)?;
    let (capacity, physical_block_size) = if medium {
        let (cap, phys) = read_capacity(io, lun, dev, quirks)?;
        (Some(cap), phys)
    } else {
        (None, 512)
    };
    let (read_only, write_cache, dpofua) = if !medium {
        (false, false, false)
    } else if quirks.contains(Quirks::ALWAYS_SYNC) {
        // usb-storage skips MODE SENSE for these devices, and flushes always.
        (false, true, false)
    } else {
        let (ro, wce, dpofua) = mode_sense(io, lun, quirks);
        // A device that hangs on the caching page was just given y: its cache
        // is taken as on, as y says, so that flushes reach it.
        let cache_on = io.quirks().contains(Quirks::ALWAYS_SYNC);
        (
            ro,
            cache_on || wce.unwrap_or(quirks.contains(Quirks::WRITE_CACHE)),
            dpofua,
        )
    };
    // As sd: FUA when the device says it honours it (MODE SENSE DPOFUA) and
    // has a cache to bypass, unless a quirk says the claim is false.
    let fua = write_cache && dpofua && !quirks.contains(Quirks::BROKEN_FUA);
    Ok(LunInfo {
        ident,
        removable,
        capacity,
        physical_block_size,
        read_only,
        write_cache,
        fua,
        rotational: vpd.rotational,
        discard: vpd.discard.filter(|_| !quirks.contains(Quirks::NO_DISCARD)),
    })
}

/// TEST UNIT READY until the LUN is ready; `false` when it has no medium.
fn wait_ready(io: &mut Executor, lun: u8, dev: &Device) -> Result<bool> {
    let mut started = false;
    for _ in 0..READY_TRIES {
        match io.data_in(lun, &cdb::test_unit_ready(), 0) {
            Ok(_) => return Ok(true),
            Err(CmdError::Sense(Some(s))) => match s.retry() {
                Retry::NoMedium => return Ok(false),
                Retry::Yes | Retry::MediaChanged => {}
                // A disk that spun down: started once (as sd_spinup_disk),
                // then waited for like one becoming ready.
                Retry::NeedsStart if !started => {
                    io.start_unit(lun);
                    started = true;
                }
                Retry::Delayed | Retry::NeedsStart => fsleep(Delta::from_millis(100)),
                Retry::No => {
                    return Err(log_fail(dev, "TEST UNIT READY", &CmdError::Sense(Some(s))))
                }
            },
            Err(e) => return Err(log_fail(dev, "TEST UNIT READY", &e)),
        }
    }
    dev_err!(dev, "LUN {} did not become ready\n", lun);
    Err(ETIMEDOUT)
}

/// READ CAPACITY(10), and (16) when (10) cannot express the size, then the
/// capacity quirks.
fn read_capacity(
    io: &mut Executor,
    lun: u8,
    dev: &Device,
    quirks: Quirks,
) -> Result<(Capacity, u32)> {
    let (mut cap, phys) = read_capacity_raw(io, lun, dev, quirks)?;
    let odd = cap.blocks % 2 == 1;
    if cap.blocks > 1
        && (quirks.contains(Quirks::FIX_CAPACITY)
            || (quirks.contains(Quirks::CAPACITY_HEURISTICS) && odd))
    {
        cap.blocks -= 1;
        dev_info!(
            dev,
            "capacity quirk: using {} blocks, one fewer than reported\n",
            cap.blocks
        );
    }
    Ok((cap, phys))
}

fn read_capacity_raw(
    io: &mut Executor,
    lun: u8,
    dev: &Device,
    quirks: Quirks,
) -> Result<(Capacity, u32)> {
    let bad = |e| unusable_capacity(dev, e);
    // Quirk E: READ CAPACITY(16) first, as sd asks a device that does not get
    // `try_rc_10_first`; (10) only if (16) fails.
    if quirks.contains(Quirks::NEEDS_CAP16) {
        if let Ok(found) = read_capacity_16(io, lun, dev) {
            return Ok(found);
        }
    }
    let n = io
        .data_in(lun, &cdb::read_capacity_10(), READ_CAPACITY_10_LEN)
        .map_err(|e| log_fail(dev, "READ CAPACITY(10)", &e))?;
    let rc10 = ReadCapacity10::parse(io.data().get(..n).unwrap_or(&[])).map_err(bad)?;
    // What sd does without READ CAPACITY(16): the largest size (10) names.
    let without_16 = || -> Result<(Capacity, u32)> {
        let cap = rc10.capacity_without_16().map_err(bad)?;
        dev_info!(
            dev,
            "no READ CAPACITY(16) (quirk): using {} blocks\n",
            cap.blocks
        );
        Ok((cap, cap.block_size))
    };
    match rc10.capacity() {
        Ok(cap) => Ok((cap, cap.block_size)),
        Err(CapacityError::Needs16)
            if quirks
                .union(io.quirks())
                .contains(Quirks::NO_READ_CAPACITY_16) =>
        {
            without_16()
        }
        Err(CapacityError::Needs16) => match read_capacity_16(io, lun, dev) {
            // A device that hangs on (16) was just given e: as with the letter.
            Err(_) if io.quirks().contains(Quirks::NO_READ_CAPACITY_16) => without_16(),
            found => found,
        },
        Err(e) => Err(bad(e)),
    }
}

/// Logs READ CAPACITY data (10 or 16) the driver cannot use; `EIO`.
fn unusable_capacity(dev: &Device, e: CapacityError) -> Error {
    dev_err!(dev, "unusable READ CAPACITY data: {:?}\n", e);
    EIO
}

/// READ CAPACITY(16): the capacity and the physical block size.
fn read_capacity_16(io: &mut Executor, lun: u8, dev: &Device) -> Result<(Capacity, u32)> {
    let bad = |e| unusable_capacity(dev, e);
    let n = io
        .data_in(
            lun,
            &cdb::read_capacity_16(READ_CAPACITY_16_LEN as u32),
            READ_CAPACITY_16_LEN,
        )
        .map_err(|e| {
            // A hang teaches e: never asked again (the caller uses what READ
            // CAPACITY(10) names, as with the letter).
            io.learn_hang(Quirks::NO_READ_CAPACITY_16, "READ CAPACITY(16)", &e);
            log_fail(dev, "READ CAPACITY(16)", &e)
        })?;
    let rc16 = ReadCapacity16::parse(io.data().get(..n).unwrap_or(&[])).map_err(bad)?;
    let cap = rc16.capacity().map_err(bad)?;
    let phys = rc16
        .physical_block_size()
        .filter(|p| *p >= cap.block_size && *p <= 65536)
        .unwrap_or(cap.block_size);
    Ok((cap, phys))
}

/// MODE SENSE(6): (write protected, write cache enabled if the caching page
/// says). A device that fails it is taken as writable, as sd assumes; with the
/// NO_WP_DETECT quirk only the caching page is asked for.
fn mode_sense(io: &mut Executor, lun: u8, quirks: Quirks) -> (bool, Option<bool>, bool) {
    let mut read_only = false;
    let mut wce = None;
    let mut dpofua = false;
    let skip = usize::from(quirks.contains(Quirks::NO_WP_DETECT));
    for page in [MODE_PAGE_ALL, MODE_PAGE_CACHING].into_iter().skip(skip) {
        let Ok(cdb) = cdb::mode_sense_6(false, PageControl::Current, page, 0, MODE_SENSE_LEN)
        else {
            continue;
        };
        let n = match io.data_in(lun, &cdb, MODE_SENSE_LEN.into()) {
            Ok(n) => n,
            Err(e) => {
                // A hang teaches the letter that leaves this page unasked (y
                // asks for no page; it takes the cache as on, so flushes stay).
                if page == MODE_PAGE_ALL {
                    io.learn_hang(Quirks::NO_WP_DETECT, "MODE SENSE of all pages", &e);
                } else {
                    io.learn_hang(Quirks::ALWAYS_SYNC, "MODE SENSE of the caching page", &e);
                }
                continue;
            }
        };
        if let Ok(md) = ModeData::parse_6(io.data().get(..n).unwrap_or(&[])) {
            read_only |= skip == 0 && md.header.write_protected();
            dpofua |= md.header.dpofua();
            if let Some(c) = md.caching() {
                wce = Some(c.wce);
                break;
            }
        }
    }
    (read_only, wce, dpofua)
}
